"""NATS principals: each (a worker, the gateway, an integration, …) holds an NKey seed
`<principal>.nk` and signs the requests it sends (`Signer`); receivers tell who sent them
(`Verifier`, from the principals file). A signature covers the subject, the command id and the
body's SHA-256: it cannot be replayed on another subject or body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import nkeys
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

log = logging.getLogger(__name__)

PRINCIPAL_HEADER = "Slipway-Principal"
SIGNATURE_HEADER = "Slipway-Signature"
SEED_SUFFIX = ".nk"


def signed_text(subject: str, command_id: str | None, body: bytes) -> bytes:
    """What a signature covers: the subject, the command id and the body's digest."""
    return f"{subject}\n{command_id or ''}\n{hashlib.sha256(body).hexdigest()}".encode()


class Signer:
    """Signs the requests one principal sends (its seed file names it: `<principal>.nk`)."""

    def __init__(self, principal: str, seed: bytes) -> None:
        self.principal = principal
        self._pair = nkeys.from_seed(bytearray(seed.strip()))

    @classmethod
    def from_seed_file(cls, path: Path) -> Signer:
        """The signer of the principal whose seed is in `path`."""
        return cls(path.name.removesuffix(SEED_SUFFIX), path.read_bytes())

    def headers(self, subject: str, command_id: str | None, body: bytes) -> dict[str, str]:
        """The headers that name the principal and carry its signature of this request."""
        signature = base64.b64encode(self._pair.sign(signed_text(subject, command_id, body)))
        return {PRINCIPAL_HEADER: self.principal, SIGNATURE_HEADER: signature.decode()}

    def __repr__(self) -> str:  # never the seed
        return f"Signer({self.principal!r})"


def signer_of(seed_file: Path | None) -> Signer | None:
    """The signer of seed file `seed_file` (None: anonymous); ValueError naming the setting."""
    if seed_file is None:
        return None
    try:
        return Signer.from_seed_file(seed_file)
    except (OSError, nkeys.NkeysError) as exc:
        reason = getattr(exc, "strerror", None) or "not an NKey seed"
        raise ValueError(f"SLIPWAY_NATS_NKEY_FILE: cannot use {seed_file}: {reason}") from None


def _verify_key(public: str) -> VerifyKey:
    """The Ed25519 key inside an NKey user public key (`U…`, base32 with a CRC16), checked
    with libsodium (about half the CPU of OpenSSL's check here: 63 against 127 µs)."""
    raw = base64.b32decode(public + "=" * (-len(public) % 8))
    body, checksum = raw[:-2], raw[-2:]
    is_user_key = len(body) == 33 and body[0] == nkeys.PREFIX_BYTE_USER
    if not is_user_key or nkeys.crc16_checksum(body) != checksum:
        raise ValueError("not an NKey user public key")
    return VerifyKey(bytes(body[1:]))


class Verifier:
    """Tells which principal signed a request, from the principals' public keys."""

    def __init__(self, public_keys: Mapping[str, str]) -> None:
        self._keys: dict[str, VerifyKey] = {}
        for principal, public in public_keys.items():
            try:
                self._keys[principal] = _verify_key(public)
            except (ValueError, binascii.Error):
                log.warning("unusable public key ignored", extra={"principal": principal})

    @classmethod
    def from_file(cls, path: Path) -> Verifier:
        """The verifier of the principals file `{principal: public key}` (JSON)."""
        keys = json.loads(path.read_text())
        if not isinstance(keys, dict):
            raise ValueError(f"{path}: expected an object {{principal: public key}}")
        return cls({str(k): str(v) for k, v in keys.items()})

    @property
    def principals(self) -> set[str]:
        return set(self._keys)

    def verify(
        self, subject: str, command_id: str | None, body: bytes, headers: Mapping[str, str]
    ) -> str | None:
        """The principal whose signature the headers carry, when it checks; else None."""
        principal = headers.get(PRINCIPAL_HEADER) or ""
        if (key := self._keys.get(principal)) is None:
            return None
        try:
            signature = base64.b64decode(headers.get(SIGNATURE_HEADER) or "", validate=True)
            key.verify(signed_text(subject, command_id, body), signature)
        except (BadSignatureError, binascii.Error, ValueError):
            return None
        return principal
