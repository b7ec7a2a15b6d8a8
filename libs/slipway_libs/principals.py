"""NATS principals: who sends a command. Each principal (a worker service, the gateway, an
integration, …) holds an NKey seed, `<principal>.nk`; the server knows its public key and
lets it connect. On top of that, a sender signs each request it sends (`Signer`), so the
service that receives it can tell who sent it (`Verifier`, from the principals file
`{principal: public key}`) and record it in the audit log.

The signature (Ed25519, base64) covers `subject + "\\n" + command id + "\\n" + sha256 hex
of the body`: a signed command cannot be replayed on another subject or with another body,
and a replay under the same command id gets the owner's kept reply, changing nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import nkeys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

log = logging.getLogger(__name__)

PRINCIPAL_HEADER = "Slipway-Principal"
SIGNATURE_HEADER = "Slipway-Signature"
SEED_SUFFIX = ".nk"


def new_seed() -> bytes:
    """A fresh NKey user seed (`SU…`), to keep in a file of mode 0600."""
    seed: bytes = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed


def public_key(seed: bytes) -> str:
    """The public key (`U…`) of an NKey user seed: what the NATS server and verifiers know."""
    pair = nkeys.from_seed(bytearray(seed.strip()))
    try:
        return str(pair.public_key.decode())
    finally:
        pair.wipe()


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
        signature = self._pair.sign(signed_text(subject, command_id, body))
        return {
            PRINCIPAL_HEADER: self.principal,
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        }

    def __repr__(self) -> str:  # never the seed
        return f"Signer({self.principal!r})"


def signer_of(seed_file: Path | None) -> Signer | None:
    """The signer of the principal whose seed file is `seed_file` (None: anonymous); a
    file that cannot be read or holds no seed is an error naming the setting."""
    if seed_file is None:
        return None
    try:
        return Signer.from_seed_file(seed_file)
    except (OSError, nkeys.NkeysError) as exc:
        reason = getattr(exc, "strerror", None) or "not an NKey seed"
        raise ValueError(f"SLIPWAY_NATS_NKEY_FILE: cannot use {seed_file}: {reason}") from None


def _verify_key(public: str) -> Ed25519PublicKey:
    """The Ed25519 key inside an NKey user public key (`U…`, base32 with a CRC16)."""
    raw = base64.b32decode(public + "=" * (-len(public) % 8))
    body, checksum = raw[:-2], raw[-2:]
    if len(body) != 33 or body[0] != nkeys.PREFIX_BYTE_USER:
        raise ValueError("not an NKey user public key")
    if nkeys.crc16_checksum(body) != checksum:
        raise ValueError("the public key's checksum does not match")
    return Ed25519PublicKey.from_public_bytes(bytes(body[1:]))


class Verifier:
    """Tells which principal signed a request, from the principals' public keys."""

    def __init__(self, public_keys: Mapping[str, str]) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
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
        principal = headers.get(PRINCIPAL_HEADER)
        key = self._keys.get(principal or "")
        if principal is None or key is None:
            return None
        try:
            signature = base64.b64decode(headers.get(SIGNATURE_HEADER) or "", validate=True)
            key.verify(signature, signed_text(subject, command_id, body))
        except (InvalidSignature, binascii.Error, ValueError):
            return None
        return principal
