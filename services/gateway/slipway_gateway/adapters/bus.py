"""The gateway's NATS connection, as its principal `gateway`: request-reply with classified
errors, each request signed (so a service knows the gateway sent it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError

from slipway_keys.principals import signer_of
from slipway_libs.messaging import nats_options
from slipway_libs.requests import request
from slipway_libs.runtime import cancelled
from slipway_libs.settings import CommonSettings

log = logging.getLogger(__name__)
NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024


class CommandBus:
    """Sends commands and queries; keeps (re)connecting to NATS in the background."""

    def __init__(self, url: str, timeout_s: float, settings: CommonSettings | None = None) -> None:
        """Connect to `url` as the principal of `settings` (its NKey seed; without them, the
        process's `SLIPWAY_*` environment names it)."""
        self.url = url
        self.timeout_s = timeout_s
        self.settings = (settings or CommonSettings()).model_copy(update={"nats_url": url})
        self.signer = signer_of(self.settings.nats_nkey_file)
        self.nc: Client | None = None
        self._connector: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    @property
    def max_payload(self) -> int:
        """The largest message the connected NATS server accepts (its `max_payload`)."""
        if self.nc is None or not self.nc.is_connected:
            return NATS_DEFAULT_MAX_PAYLOAD
        return self.nc.max_payload

    async def start(self) -> None:
        self._connector = asyncio.create_task(self._connect_forever())

    async def _connect_forever(self) -> None:
        while self.nc is None:
            try:
                self.nc = await nats.connect(
                    **nats_options(self.settings),
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    connect_timeout=2,
                    allow_reconnect=True,
                    name="slipway-gateway",
                )
            except (TimeoutError, OSError, NatsError) as exc:
                log.warning("NATS unreachable; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1)

    async def stop(self) -> None:
        await cancelled(self._connector)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()

    async def request(
        self,
        subject: str,
        payload: dict[str, Any] | bytes,
        command_id: str | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Send one request (`payload` as bytes: already `encode`d); return the reply's
        `data` or raise the classified error."""
        return await request(
            self.nc,
            subject,
            payload,
            timeout_s=timeout_s or self.timeout_s,
            command_id=command_id,
            signer=self.signer,
        )
