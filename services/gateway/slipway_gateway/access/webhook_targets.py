"""Where webhooks may deliver: the allow-list `SLIPWAY_WEBHOOK_ALLOWED_TARGETS` (networks in
CIDR form and host names; default loopback only: `127.0.0.0/8,::1,localhost`), so no one
can make the gateway call into a network it should not reach (SSRF).

A URL is allowed when it is http(s) and its host is a listed name, or an address in a
listed network. A name is never resolved to be judged by its addresses: a listed name is
trusted as the operator listed it, any other is refused (no DNS rebinding, and no look-up
of whatever name a client sends). It is checked when the subscription is made and again
before each delivery (the allow-list may have changed).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from slipway_libs.errors import InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SETTING = "SLIPWAY_WEBHOOK_ALLOWED_TARGETS"


@dataclass(frozen=True)
class AllowList:
    networks: tuple[Network, ...]
    names: frozenset[str]

    @classmethod
    def parse(cls, entries: list[str]) -> AllowList:
        """Networks (`10.0.0.0/8`, `::1`) and host names (`hooks.example.com`)."""
        networks, names = [], set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(names))

    def has_address(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def check(self, url: str) -> None:
        """InvalidInput naming `url` unless deliveries may go there."""
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            raise InvalidInput.field("url", "is not a URL") from None
        if parts.scheme not in ("http", "https") or not hostname:
            raise InvalidInput.field("url", "must be an http:// or https:// URL with a host")
        if parts.username or parts.password:
            raise InvalidInput.field("url", "must not carry credentials")
        host = hostname.lower().rstrip(".")
        if host in self.names:
            return
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is None or not self.has_address(host):
            raise self.refused(host)

    def refused(self, host: str) -> InvalidInput:
        return InvalidInput.field(
            "url",
            f"host '{host}' is not in the webhook allow-list ({SETTING}); allowed: "
            + ", ".join([*map(str, self.networks), *sorted(self.names)]),
        )
