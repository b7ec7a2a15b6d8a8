"""Reading SLIPWAY_EVENTS the way a subscriber would: a new consumer replaying from the start."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from slipway_contracts import subjects


async def read_events(
    nc: Client, subject: str = subjects.EVENTS_WILDCARD, max_wait_s: float = 1.0, batch: int = 100
) -> list[tuple[str, dict[str, Any]]]:
    """Every event on `subject` so far, oldest first, as (subject, CloudEvent), read over
    an open connection; the end is a fetch that waits `max_wait_s` for nothing."""
    sub = await nc.jetstream().pull_subscribe(
        subject,
        durable=None,
        stream=subjects.EVENTS_STREAM,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    found: list[tuple[str, dict[str, Any]]] = []
    try:
        while True:
            try:
                messages = await sub.fetch(batch, timeout=max_wait_s)
            except (TimeoutError, nats.errors.TimeoutError):
                return found
            for msg in messages:
                found.append((msg.subject, json.loads(msg.data)))
                await msg.ack()
    finally:
        await sub.unsubscribe()


async def _replay(
    nats_options: Mapping[str, Any], subject: str, max_wait_s: float
) -> list[tuple[str, dict[str, Any]]]:
    nc = await nats.connect(**nats_options)
    try:
        return await read_events(nc, subject, max_wait_s)
    finally:
        await nc.close()


def replay(
    nats_options: Mapping[str, Any],
    subject: str = subjects.EVENTS_WILDCARD,
    max_wait_s: float = 1.0,
) -> list[tuple[str, dict[str, Any]]]:
    """Every event on `subject` so far, oldest first, as (subject, CloudEvent), read over a
    connection made with `nats_options` (keyword arguments of `nats.connect`, e.g. a
    Stack's `nats_options("events-reader")`)."""
    return asyncio.run(_replay(nats_options, subject, max_wait_s))


def events_for(
    nats_options: Mapping[str, Any], entity_id: str, entity: str = "container_image"
) -> list[tuple[str, dict[str, Any]]]:
    return [
        (s, e)
        for s, e in replay(nats_options, subjects.event(entity, ">"))
        if e["subject"] == entity_id
    ]


def cloud_event(
    entity: str, name: str, entity_id: str = "e-1", correlation_id: str | None = None
) -> dict[str, Any]:
    """An event as a service's relay publishes it (a minimal entity as its `data`)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/slipway/test",
        "type": f"io.slipway.{entity}.{name}.v1",
        "subject": entity_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "entityversion": 1,
        "correlationid": correlation_id or str(uuid.uuid4()),
        "data": {"id": entity_id, "status": name},
    }


async def publish_event(nc: Client, event: dict[str, Any]) -> int:
    """Publish `event` on SLIPWAY_EVENTS as a relay does; its stream sequence."""
    _, entity, name, _ = str(event["type"]).rsplit(".", 3)
    ack = await nc.jetstream().publish(
        subjects.event(entity, name), json.dumps(event).encode(), stream=subjects.EVENTS_STREAM
    )
    return int(ack.seq)
