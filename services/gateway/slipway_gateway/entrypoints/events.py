"""`GET /api/events` (viewer): SLIPWAY_EVENTS as server-sent events.

Each event: `id` = its stream sequence, `event` = its CloudEvents type, `data` = the
CloudEvent JSON as published. A client resumes with `Last-Event-ID` (what a browser's
EventSource sends on reconnecting) or `?since=<sequence or RFC 3339 time>`: the stream
starts after that event, in order, missing none. Without a cursor: new events only.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Header, Query, Request

from slipway_gateway.adapters.event_stream import Cursor, EventFilter, EventReader
from slipway_gateway.entrypoints.http import (
    AUTHENTICATED,
    Bus,
    DocumentedRoute,
    PrefixRouter,
    problems,
)
from slipway_gateway.entrypoints.streaming import SSE_RESPONSE, ClosingStream, comment, sse
from slipway_libs.errors import Unavailable

router = PrefixRouter(
    prefix="/api/events", tags=["events"], route_class=DocumentedRoute, dependencies=[AUTHENTICATED]
)

KIND = r"^[a-z][a-z0-9_]*$"
CAUGHT_UP_WAIT_S = 1.0


async def frames(reader: EventReader, heartbeat_s: float, follow: bool) -> AsyncIterator[bytes]:
    """The events as they come, and a heartbeat comment whenever `heartbeat_s` passed
    without a byte sent. Ends when NATS fails (the client resumes with Last-Event-ID), and
    without `follow` once every event the stream holds has been read."""
    yield comment("slipway events")  # the headers and a first byte go out at once
    sent_at = time.monotonic()
    while True:
        wait_s = max(0.05, heartbeat_s - (time.monotonic() - sent_at))
        if not follow:  # nothing pending answers at once; this bounds a quiet stream's end
            wait_s = min(wait_s, CAUGHT_UP_WAIT_S)
        try:
            batch = await reader.next_batch(wait_s)
        except Unavailable:
            return
        for stored in batch:
            yield sse(stored.data.decode(), event=stored.type, event_id=stored.sequence)
            sent_at = time.monotonic()
        if not follow and reader.caught_up:
            yield comment("caught up")
            return
        if time.monotonic() - sent_at >= heartbeat_s:
            yield comment("heartbeat")
            sent_at = time.monotonic()


@router.get(
    "", status_code=200, responses={**SSE_RESPONSE, **problems(410)}, response_class=ClosingStream
)
async def stream_events(
    request: Request,
    bus: Bus,
    kind: Annotated[
        str | None, Query(pattern=KIND, description="entity kind, e.g. `deployment`")
    ] = None,
    entity_id: Annotated[
        str | None, Query(description="the entity id (CloudEvents `subject`)")
    ] = None,
    type: Annotated[
        str | None,
        Query(description="a CloudEvents type, or a glob such as `io.slipway.deployment.*`"),
    ] = None,
    correlation_id: Annotated[str | None, Query(description="the `correlationid`")] = None,
    since: Annotated[
        str | None,
        Query(description="start after this event id (stream sequence), or at this RFC 3339 time"),
    ] = None,
    follow: Annotated[
        bool, Query(description="false: end the stream once it has caught up with the events")
    ] = True,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="resume after this event id")
    ] = None,
) -> ClosingStream:
    """Server-sent events of every entity change, filtered by `kind`, `entity_id`, `type`
    and `correlation_id` (all that are given must hold). `Last-Event-ID` (wins over `since`)
    resumes after that event; a cursor older than the stream keeps is answered 410. A
    comment line (`: heartbeat`) every `SLIPWAY_EVENTS_HEARTBEAT_S` (15 s) while quiet.
    With `follow=false` the stream ends once it has caught up (e.g. `since=0&follow=false`:
    every event kept, then the end)."""
    if last_event_id is not None and last_event_id.strip():
        cursor = Cursor.parse(last_event_id, "Last-Event-ID")
    else:
        cursor = Cursor.parse(since, "since")
    if bus.nc is None or not bus.nc.is_connected:
        raise Unavailable("NATS is not connected")
    where = EventFilter(kind=kind, entity_id=entity_id, type=type, correlation_id=correlation_id)
    reader = EventReader(bus.nc, where)
    try:
        await reader.open(cursor)
    except BaseException:
        await reader.close()
        raise
    heartbeat_s = request.app.state.settings.events_heartbeat_s
    return ClosingStream(frames(reader, heartbeat_s, follow), on_close=reader.close)
