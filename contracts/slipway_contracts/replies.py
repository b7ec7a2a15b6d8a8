"""Reply envelope of every command and query."""

from __future__ import annotations

from typing import Any, Literal

from slipway_contracts.common import Model


class ErrorBody(Model):
    code: Literal[
        "invalid",
        "not_found",
        "conflict",
        "precondition_failed",
        "idempotency_mismatch",
        "unavailable",
        "internal",
    ]
    message: str
    details: Any = None


class OkReply(Model):
    ok: Literal[True] = True
    data: Any = None


class ErrorReply(Model):
    ok: Literal[False] = False
    error: ErrorBody
