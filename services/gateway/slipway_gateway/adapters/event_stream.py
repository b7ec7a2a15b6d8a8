"""SLIPWAY_EVENTS read from a cursor: what `GET /api/events` streams.

Each reader has an ephemeral pull consumer of its own on the stream, without acks, placed by
its cursor: after a stream sequence (the last event a client saw), from a moment, or at the
new events only. It is deleted when the reader closes; should the gateway die first, NATS
removes it once it has been idle `INACTIVE_S`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamInfo
from nats.js.errors import NotFoundError

from slipway_contracts import subjects
from slipway_libs.errors import InvalidInput, SlipwayError, Unavailable
from slipway_libs.messaging import ensure_streams

log = logging.getLogger(__name__)

STREAM = subjects.EVENTS_STREAM
INACTIVE_S = 60.0
BATCH = 256


class Gone(SlipwayError):
    """The cursor points before the oldest event the stream keeps: events were lost (410)."""

    code = "gone"
    http_status = 410


@dataclass(frozen=True)
class Cursor:
    """Where a reading starts: after stream sequence `after`, or at moment `since`, or (both
    None) at the next new event."""

    after: int | None = None
    since: datetime | None = None

    @classmethod
    def parse(cls, value: str | None, field: str) -> Cursor:
        """A cursor given as a stream sequence or an RFC 3339 moment (UTC without offset)."""
        if value is None or not value.strip():
            return cls()
        value = value.strip()
        if value.isdigit():
            return cls(after=int(value))
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput.field(
                field, "must be an event id (a stream sequence) or an RFC 3339 time"
            ) from None
        return cls(since=moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@dataclass(frozen=True)
class EventFilter:
    """Which events a reader wants; every given criterion must hold."""

    kind: str | None = None  # the entity kind: the subject's third token
    entity_id: str | None = None  # the CloudEvents `subject`
    type: str | None = None  # a CloudEvents type, or a glob such as io.slipway.deployment.*
    correlation_id: str | None = None

    @property
    def subject(self) -> str:
        """The narrowest subject filter NATS can apply for us."""
        return subjects.event(self.kind, ">") if self.kind else subjects.EVENTS_WILDCARD

    def matches(self, event: dict[str, Any]) -> bool:
        return (
            (self.entity_id is None or event.get("subject") == self.entity_id)
            and (self.type is None or type_matches(self.type, str(event.get("type", ""))))
            and (self.correlation_id is None or event.get("correlationid") == self.correlation_id)
        )


def type_matches(pattern: str, event_type: str) -> bool:
    """An exact CloudEvents type, or a glob (`*` also spans dots: `io.slipway.deployment.*`)."""
    return fnmatchcase(event_type, pattern)


@dataclass(frozen=True)
class StoredEvent:
    """One message of SLIPWAY_EVENTS: its stream sequence, and the CloudEvent it holds."""

    sequence: int
    data: bytes
    event: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.event.get("type", ""))


def start_of(cursor: Cursor, info: StreamInfo, first_time: datetime | None) -> ConsumerConfig:
    """The consumer config placing a reading at `cursor`; Gone when events it asks for were
    dropped (`first_time`: when the oldest kept event was stored, if any was dropped)."""
    first = info.state.first_seq
    if cursor.after is not None:
        if cursor.after + 1 < first:
            raise Gone(
                f"events after {cursor.after} are no longer kept: the oldest event kept is "
                f"{first}; start again without a cursor, or from {first - 1}"
            )
        return ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=cursor.after + 1
        )
    if cursor.since is not None:
        if first_time is not None and cursor.since < first_time:
            raise Gone(
                f"events since {cursor.since.isoformat()} are no longer kept: the oldest "
                f"event kept is {first}, of {first_time.isoformat()}"
            )
        return ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=cursor.since
        )
    return ConsumerConfig(deliver_policy=DeliverPolicy.NEW)


class EventReader:
    """A cursor on SLIPWAY_EVENTS (see the module docstring). `open`, then `next_batch`
    until done, then `close`."""

    def __init__(self, nc: Client, where: EventFilter) -> None:
        self.nc = nc
        self.where = where
        self.js = nc.jetstream()
        self.name = f"sse-{uuid.uuid4().hex}"
        self._subscription: Any = None
        # Whether the reader has read every event the stream held when it last looked.
        self.caught_up = False

    async def open(self, cursor: Cursor) -> None:
        """Place the consumer at `cursor` (Gone, Unavailable)."""
        try:
            info = await self._stream_info()
            config = start_of(cursor, info, await self._dropped_since(info))
            config.name = self.name
            config.ack_policy = AckPolicy.NONE
            config.filter_subject = self.where.subject
            config.inactive_threshold = INACTIVE_S
            config.mem_storage = True
            config.num_replicas = 1
            await self.js.add_consumer(STREAM, config)
            self._subscription = await self.js.pull_subscribe_bind(
                consumer=self.name, stream=STREAM
            )
        except (NatsError, OSError) as exc:
            raise Unavailable(f"cannot read the events: NATS: {exc!r}") from exc

    async def _stream_info(self) -> StreamInfo:
        try:
            return await self.js.stream_info(STREAM)
        except NotFoundError:  # no service has started yet: make the streams as they would
            await ensure_streams(self.js)
            return await self.js.stream_info(STREAM)

    async def _dropped_since(self, info: StreamInfo) -> datetime | None:
        """When the oldest kept event was stored, if older ones were dropped (else None)."""
        if info.state.first_seq <= 1 or info.state.messages == 0:
            return None
        with contextlib.suppress(NotFoundError):
            message = await self.js.get_msg(STREAM, seq=info.state.first_seq)
            return message.time
        return None

    async def next_batch(self, wait_s: float) -> list[StoredEvent]:
        """The next events that pass the filter, in stream order (waiting up to `wait_s`; an
        empty list when none came). Unavailable when NATS fails meanwhile."""
        try:
            messages = await self._subscription.fetch(BATCH, timeout=wait_s)
            if not messages:  # a status instead of events: is the consumer still there?
                await self.js.consumer_info(STREAM, self.name)
        except TimeoutError:
            self.caught_up = True
            return []
        except (NatsError, OSError) as exc:  # the consumer gone too (a NATS restart)
            raise Unavailable(f"reading the events failed: NATS: {exc!r}") from exc
        batch = []
        for msg in messages:
            try:
                event = json.loads(msg.data)
            except ValueError:
                log.warning("not a CloudEvent on SLIPWAY_EVENTS", extra={"subject": msg.subject})
                continue
            if isinstance(event, dict) and self.where.matches(event):
                batch.append(StoredEvent(msg.metadata.sequence.stream, msg.data, event))
        self.caught_up = bool(messages) and messages[-1].metadata.num_pending == 0
        return batch

    async def close(self) -> None:
        """Unsubscribe and delete the consumer (never raises)."""
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        with contextlib.suppress(Exception):
            await self.js.delete_consumer(STREAM, self.name)
