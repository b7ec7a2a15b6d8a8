"""SLIPWAY_EVENTS as a subscriber sees it: the `events-reader` principal with an ordered
consumer from now on, each event stamped with the wall-clock time it arrived."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import DeliverPolicy


@dataclass(frozen=True)
class Arrival:
    """One event: its entity, the new status it reports, when it was made and arrived."""

    entity_id: str
    name: str | None  # the entity's name, from the event's data
    event: str  # the last part of the subject: created, updated, built, running, ...
    status: str | None
    made_at: float  # the CloudEvent's `time`, as a Unix timestamp
    arrived_at: float  # time.time() when the subscriber got it


class EventFeed:
    """`async with EventFeed(options, "slipway.events.deployment.>") as feed:` then
    `await feed.wait_for(entity_id, {"running"}, timeout_s)`; every arrival is kept."""

    def __init__(self, nats_options: dict[str, Any], subject: str) -> None:
        self.nats_options = nats_options
        self.subject = subject
        self.arrivals: dict[str, list[Arrival]] = {}
        self._waiters: dict[str, list[tuple[set[str], asyncio.Future[Arrival]]]] = {}
        self._nc: Client | None = None
        self._sub: Subscription | None = None

    async def __aenter__(self) -> EventFeed:
        self._nc = await nats.connect(**self.nats_options)
        self._sub = await self._nc.jetstream().subscribe(
            self.subject,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            cb=self._on_message,
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
        if self._nc is not None:
            await self._nc.close()

    async def _on_message(self, msg: Msg) -> None:
        arrived = time.time()
        event = json.loads(msg.data)
        data = event.get("data") or {}
        arrival = Arrival(
            entity_id=str(event["subject"]),
            name=data.get("name"),
            event=msg.subject.rsplit(".", 1)[-1],
            status=data.get("status"),
            made_at=datetime.fromisoformat(event["time"]).timestamp(),
            arrived_at=arrived,
        )
        self.arrivals.setdefault(arrival.entity_id, []).append(arrival)
        for wanted, future in self._waiters.pop(arrival.entity_id, []):
            if arrival.event in wanted and not future.done():
                future.set_result(arrival)
            elif not future.done():
                self._waiters.setdefault(arrival.entity_id, []).append((wanted, future))

    def first(self, entity_id: str, events: set[str]) -> Arrival | None:
        """The first arrival for `entity_id` whose event is one of `events`."""
        return next((a for a in self.arrivals.get(entity_id, []) if a.event in events), None)

    def _future(self, entity_id: str, events: set[str]) -> asyncio.Future[Arrival]:
        future: asyncio.Future[Arrival] = asyncio.get_running_loop().create_future()
        found = self.first(entity_id, events)
        if found is not None:
            future.set_result(found)
        else:
            self._waiters.setdefault(entity_id, []).append((events, future))
        return future

    async def wait_for(self, entity_id: str, events: set[str], timeout_s: float) -> Arrival:
        """The first event of `events` for `entity_id` (already arrived, or awaited up to
        `timeout_s`; TimeoutError after)."""
        return await asyncio.wait_for(self._future(entity_id, events), timeout_s)

    async def wait_all(
        self, entity_ids: set[str], events: set[str], timeout_s: float
    ) -> list[Arrival]:
        """The first event of `events` of each of `entity_ids`, for those that had one
        within `timeout_s`."""
        futures = [self._future(i, events) for i in entity_ids]
        if not futures:
            return []
        done, pending = await asyncio.wait(futures, timeout=timeout_s)
        for future in pending:
            future.cancel()
        return [f.result() for f in done]

    def names(self) -> set[str]:
        """The names of every entity an event has arrived for."""
        return {a.name for found in self.arrivals.values() for a in found if a.name}

    def count(self, entity_ids: set[str], events: set[str]) -> int:
        """How many of `entity_ids` have had one of `events`."""
        return sum(1 for i in entity_ids if self.first(i, events) is not None)
