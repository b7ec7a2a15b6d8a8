"""Secrets at rest: AES-GCM sealing with one key per installation (`SecretKeySettings`).
`sealer_from(settings, state_dir).seal(secret, associated=b"<entity>/<id>/<what>")` gives a
text token that `open_sealed(token, associated=...)` opens only with the same associated
data: it cannot be moved to another record. Errors never carry the secret or the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_FILE_NAME = "secret.key"
TOKEN_VERSION = "v1"


class SecretKeyError(Exception):
    """The configured key is missing, unreadable or not 32 bytes (the message says which)."""


class SealedSecretError(Exception):
    """A sealed secret cannot be opened: another key sealed it, or it was altered or moved."""


def key_id(key: bytes) -> str:
    """A key's short public name (its SHA-256's start), kept in tokens to tell keys apart."""
    return hashlib.sha256(key).hexdigest()[:8]


class Sealer:
    """Seals and opens secrets with one AES-256-GCM key (see the module docstring)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretKeyError(f"a secret key has {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)

    def __repr__(self) -> str:
        return f"Sealer(key_id={self.key_id!r})"

    def seal(self, plaintext: bytes, associated: bytes) -> str:
        """`plaintext` sealed with `associated`: `v1.<key id>.<base64url nonce+ciphertext+tag>`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, associated)
        body = base64.urlsafe_b64encode(sealed).decode("ascii").rstrip("=")
        return f"{TOKEN_VERSION}.{self.key_id}.{body}"

    def open_sealed(self, token: str, associated: bytes) -> bytes:
        """The plaintext of a token sealed with this key and `associated`, or SealedSecretError."""
        version, _, rest = token.partition(".")
        sealed_with, _, body = rest.partition(".")
        if version != TOKEN_VERSION or not sealed_with or not body:
            raise SealedSecretError("the sealed secret is not in a form this version reads")
        if sealed_with != self.key_id:
            raise SealedSecretError(
                f"the secret was sealed with another key (key id {sealed_with}; the "
                f"configured key is {self.key_id}): was the secret key replaced?"
            )
        try:
            sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SealedSecretError("the sealed secret is damaged (not base64)") from None
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise SealedSecretError("the sealed secret is damaged (too short)")
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)
        except InvalidTag:
            raise SealedSecretError(
                "the sealed secret does not authenticate: it was altered, or it belongs to "
                "another record"
            ) from None


def decode_key(text: str, source: str) -> bytes:
    """The key written as base64 (standard or URL-safe) in `source` (named in errors)."""
    cleaned = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"{source} is not base64") from None
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"{source} must hold {KEY_BYTES} bytes in base64, not {len(key)}")
    return key


def ensure_key_file(path: Path) -> Path:
    """Make `path` hold a new random key (base64, 0600) unless it exists; returns `path`. When
    processes race, the file appears complete or not at all, and the first one made is kept."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii") + "\n")
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_key_file(path: Path) -> bytes:
    """The key in `path` (base64, or the 32 raw bytes); SecretKeyError naming the file."""
    try:
        content = path.read_bytes()
        mode = path.stat().st_mode
    except OSError as error:
        raise SecretKeyError(f"cannot read the secret key file {path}: {error.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the secret key file %s can be read by others; chmod 600 it", path)
    if len(content) == KEY_BYTES:
        return content
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError:
        raise SecretKeyError(f"the secret key file {path} is neither base64 nor 32 bytes") from None
    return decode_key(text, f"the secret key file {path}")


class SecretKeySettings(BaseSettings):
    """Where a service's secret key comes from; a service's settings class inherits it."""

    model_config = SettingsConfigDict(env_prefix="SLIPWAY_", extra="ignore")

    secret_key: SecretStr | None = Field(
        None, description="the key as base64 of 32 bytes; wins over the key file"
    )
    secret_key_file: Path | None = Field(
        None, description="the key file (default <state dir>/secret.key, made 0600 if missing)"
    )


def sealer_from(settings: SecretKeySettings, state_dir: Path) -> Sealer:
    """The sealer of `SLIPWAY_SECRET_KEY`, else of the key file (made when missing)."""
    if settings.secret_key is not None:
        return Sealer(decode_key(settings.secret_key.get_secret_value(), "SLIPWAY_SECRET_KEY"))
    path = settings.secret_key_file or state_dir / KEY_FILE_NAME
    return Sealer(read_key_file(ensure_key_file(path.expanduser())))
