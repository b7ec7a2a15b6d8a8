"""Per-message context: the correlation id and the id of the command being handled."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)

CORRELATION_HEADER = "X-Request-ID"
COMMAND_ID_HEADER = "Slipway-Command-Id"


def new_id() -> str:
    """A fresh UUID string."""
    return str(uuid.uuid4())


def current_correlation_id() -> str:
    """The correlation id of the current message, made up if there is none."""
    value = correlation_id.get()
    if value is None:
        value = new_id()
        correlation_id.set(value)
    return value


def bind(correlation: str | None, causation: str | None) -> None:
    """Set the context of the message being handled."""
    correlation_id.set(correlation or new_id())
    causation_id.set(causation)
