"""Reading SLIPWAY_EVENTS the way a subscriber would: a new consumer replaying from the start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
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
