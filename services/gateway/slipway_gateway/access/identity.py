"""Who is calling: the principal a request acts as, and the token secrets that prove it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from slipway_contracts.access import Role, Token
from slipway_libs.errors import SlipwayError

TOKEN_PREFIX = "slw_"
# Longer than any secret this gateway mints; a longer header is not worth a lookup.
MAX_SECRET_LENGTH = 512


@dataclass(frozen=True)
class Principal:
    """The identity a call acts as: a token (its name, id, role and namespace scope), or
    `anonymous`."""

    name: str
    role: Role | None  # None: no valid token
    token_id: str | None = None
    namespaces: tuple[str, ...] | None = None  # None: every namespace

    @property
    def groups(self) -> list[str]:
        return [f"slipway:{self.role}"] if self.role else []


# A call without a valid token (refused, unless the route is open).
ANONYMOUS = Principal("anonymous", None)
# Alertmanager delivering alerts with the shared secret (`POST /api/alerts/webhook`).
ALERTMANAGER = Principal("alertmanager", Role.OPERATOR)
# Every call when authentication is turned off (`SLIPWAY_AUTH_ENABLED=false`).
ANONYMOUS_ADMIN = Principal("anonymous", Role.ADMIN)


class StoredToken(Token):
    """A token as the gateway keeps it: its listing plus when it was revoked."""

    revoked_at: datetime | None = None


class Unauthenticated(SlipwayError):
    """No usable bearer token (401). `token_given`: the client sent one, which is bad."""

    code = "unauthorized"
    http_status = 401

    def __init__(self, message: str, token_given: bool) -> None:
        super().__init__(message)
        self.token_given = token_given

    @property
    def challenge(self) -> str:
        """The `WWW-Authenticate` header value (RFC 6750)."""
        challenge = 'Bearer realm="slipway"'
        return challenge + ', error="invalid_token"' if self.token_given else challenge


def mint_secret() -> str:
    """A fresh bearer secret: `slw_` and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a secret. A fast hash is right: the secret has 256 bits of
    entropy, so there is nothing to guess from its hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_secret(authorization: str | None) -> str:
    """The secret of an `Authorization: Bearer <secret>` header; Unauthenticated otherwise."""
    scheme, _, secret = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthenticated(
            "this needs an API token: send `Authorization: Bearer <token>`", token_given=False
        )
    secret = secret.strip()
    if not secret or len(secret) > MAX_SECRET_LENGTH or any(c.isspace() for c in secret):
        raise Unauthenticated("the bearer token is malformed", token_given=True)
    return secret


def principal_of(token: StoredToken | None, now: datetime) -> Principal:
    """The principal a stored token stands for; Unauthenticated when it is unusable."""
    if token is None:
        raise Unauthenticated("the bearer token is not a token of this API", token_given=True)
    if token.revoked_at is not None:
        raise Unauthenticated(f"token '{token.name}' was revoked", token_given=True)
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated(
            f"token '{token.name}' expired at {token.expires_at.isoformat()}", token_given=True
        )
    namespaces = token.scope.namespaces
    return Principal(
        token.name, token.role, token.id, tuple(namespaces) if namespaces is not None else None
    )


def check_shared_secret(authorization: str | None, secret_file: Path | None) -> None:
    """Unauthenticated unless the `Authorization: Bearer` header holds the secret kept in
    `secret_file` (compared in constant time; neither is ever logged or answered back)."""
    given = bearer_secret(authorization)
    if secret_file is None:
        raise Unauthenticated(
            "the alert webhook has no shared secret set (SLIPWAY_ALERTMANAGER_SECRET_FILE)",
            token_given=True,
        )
    try:
        expected = secret_file.read_text().strip()
    except OSError:
        raise Unauthenticated(
            "the alert webhook's shared secret file cannot be read", token_given=True
        ) from None
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthenticated("the alert webhook's shared secret does not match", token_given=True)
