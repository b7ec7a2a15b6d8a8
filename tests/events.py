"""Reading SLIPWAY_EVENTS the way a subscriber would: a new consumer replaying from the start."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy


async def _replay(
    nats_url: str, subject: str, max_wait_s: float
) -> list[tuple[str, dict[str, Any]]]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            subject,
            durable=None,
            stream="SLIPWAY_EVENTS",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        found: list[tuple[str, dict[str, Any]]] = []
        while True:
            try:
                batch = await sub.fetch(100, timeout=max_wait_s)
            except (TimeoutError, nats.errors.TimeoutError):
                return found
            for msg in batch:
                found.append((msg.subject, json.loads(msg.data)))
                await msg.ack()
    finally:
        await nc.close()


def replay(
    nats_url: str, subject: str = "slipway.events.>", max_wait_s: float = 1.0
) -> list[tuple[str, dict[str, Any]]]:
    """Every event on `subject` so far, oldest first, as (subject, CloudEvent)."""
    return asyncio.run(_replay(nats_url, subject, max_wait_s))


def events_for(
    nats_url: str, entity_id: str, entity: str = "container_image"
) -> list[tuple[str, dict[str, Any]]]:
    return [
        (s, e)
        for s, e in replay(nats_url, f"slipway.events.{entity}.>")
        if e["subject"] == entity_id
    ]
