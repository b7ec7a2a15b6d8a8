"""CloudEvents 1.0 envelopes of Slipway's events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def event_type(entity: str, event: str) -> str:
    """The CloudEvents `type` of an event, e.g. `io.slipway.container_image.built.v1`."""
    return f"io.slipway.{entity}.{event}.v1"


def cloudevent(
    *,
    entity: str,
    event: str,
    entity_id: str,
    snapshot: dict[str, Any],
    previous_status: str | None,
    entityversion: int,
    source: str,
    correlation_id: str,
    causation_id: str | None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """Build the JSON envelope of one event; `data` is the snapshot plus `previous_status`."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": event_type(entity, event),
        "subject": entity_id,
        "time": (time or datetime.now(UTC)).isoformat(),
        "datacontenttype": "application/json",
        "entityversion": entityversion,
        "correlationid": correlation_id,
        "causationid": causation_id,
        "data": {**snapshot, "previous_status": previous_status},
    }
