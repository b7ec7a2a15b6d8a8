"""Classified errors shared by services and the gateway, and their wire/HTTP forms."""

from __future__ import annotations

from typing import Any


class SlipwayError(Exception):
    """Base of the errors a command can answer with; `code` is the wire error code."""

    code = "internal"
    http_status = 500

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_reply(self) -> dict[str, Any]:
        """The `{"ok": false, "error": ...}` reply body of this error."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"ok": False, "error": error}


class InvalidInput(SlipwayError):
    """Bad input; `details` is a list of `{"field", "message"}`."""

    code = "invalid"
    http_status = 422

    @classmethod
    def field(cls, field: str, message: str) -> InvalidInput:
        """An invalid-input error about one field."""
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class NotFound(SlipwayError):
    code = "not_found"
    http_status = 404


class Conflict(SlipwayError):
    """A state the user can change (an illegal transition, a duplicate name)."""

    code = "conflict"
    http_status = 409


class PreconditionFailed(SlipwayError):
    code = "precondition_failed"
    http_status = 412


class IdempotencyMismatch(SlipwayError):
    code = "idempotency_mismatch"
    http_status = 422


class Unavailable(SlipwayError):
    """A dependency (NATS, MongoDB, Docker) cannot be reached; retry later."""

    code = "unavailable"
    http_status = 503


class RetryableError(Exception):
    """A job failed for a reason that may pass (redeliver with a delay)."""


class PermanentError(Exception):
    """A job failed for good (terminal state with this reason)."""


_KNOWN = (InvalidInput, NotFound, Conflict, PreconditionFailed, IdempotencyMismatch, Unavailable)
_BY_CODE: dict[str, type[SlipwayError]] = {cls.code: cls for cls in _KNOWN}


def error_from_reply(error: dict[str, Any]) -> SlipwayError:
    """Rebuild the classified error from an error reply's `error` object."""
    cls = _BY_CODE.get(str(error.get("code")), SlipwayError)
    return cls(str(error.get("message", "error")), error.get("details"))
