"""`GET /api/events`: SLIPWAY_EVENTS as server-sent events from a real gateway on a real NATS
server; the events are published on the stream as the services' relays publish them."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from nats.aio.client import Client

from slipway_contracts import subjects
from slipway_gateway.settings import GatewaySettings
from slipway_libs.messaging import ensure_streams
from tests.events import cloud_event, publish_event
from tests.service.gateway.conftest import RunningGateway, assert_problem, serving
from tests.sse import EventStream
from tests.waiting import eventually

HEARTBEAT_S = 0.3


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def events_gateway(
    gateway_settings: Callable[..., GatewaySettings], bus: Client
) -> AsyncIterator[RunningGateway]:
    """A gateway whose event streams beat every 0.3 s."""
    await ensure_streams(bus.jetstream())
    async with serving(gateway_settings(events_heartbeat_s=HEARTBEAT_S)) as running:
        yield running


async def publish(bus: Client, entity: str, name: str, entity_id: str, correlation: str) -> int:
    """Publish one event as a relay does; its stream sequence."""
    return await publish_event(bus, cloud_event(entity, name, entity_id, correlation))


@asynccontextmanager
async def streaming(
    client: httpx.AsyncClient, params: dict[str, str] | None = None, **headers: str
) -> AsyncIterator[EventStream]:
    async with client.stream(
        "GET", "/api/events", params=params, headers=headers, timeout=20
    ) as response:
        assert response.status_code == 200, await response.aread()
        stream = EventStream(response)
        await stream.next_frame()  # the opening comment: the consumer is in place
        yield stream


async def test_new_events_stream_with_their_sequence_type_and_cloudevent(
    events_gateway: RunningGateway, bus: Client
) -> None:
    entity_id, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    async with events_gateway.client.stream("GET", "/api/events", timeout=20) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        stream = EventStream(response)
        await stream.next_frame()
        seq = await publish(bus, subjects.DEPLOYMENT, "running", entity_id, correlation)
        frame = await stream.next_event()

    assert frame.id == str(seq)
    assert frame.event == "io.slipway.deployment.running.v1"
    event = json.loads(frame.text)
    assert event["subject"] == entity_id and event["correlationid"] == correlation
    assert event["specversion"] == "1.0"


async def test_last_event_id_replays_exactly_the_missed_events_in_order(
    events_gateway: RunningGateway, bus: Client
) -> None:
    correlation = str(uuid.uuid4())
    seqs = [
        await publish(bus, subjects.CONTAINER_IMAGE, name, str(uuid.uuid4()), correlation)
        for name in ("created", "building", "built", "updated", "deleted")
    ]
    params = {"correlation_id": correlation}

    async with streaming(events_gateway.client, params, **{"Last-Event-ID": str(seqs[1])}) as s:
        replayed = await s.events(3)
        later = await publish(bus, subjects.CONTAINER_IMAGE, "failed", "x", correlation)
        live = await s.next_event()

    assert [f.id for f in replayed] == [str(n) for n in seqs[2:]]
    assert [f.event for f in replayed] == [
        "io.slipway.container_image.built.v1",
        "io.slipway.container_image.updated.v1",
        "io.slipway.container_image.deleted.v1",
    ]
    assert live.id == str(later)


async def test_since_a_sequence_or_a_time_resumes_and_last_event_id_wins(
    events_gateway: RunningGateway, bus: Client
) -> None:
    correlation = str(uuid.uuid4())
    before = datetime.now(UTC) - timedelta(seconds=1)
    first = await publish(bus, subjects.HELM_CHART, "created", "c1", correlation)
    second = await publish(bus, subjects.HELM_CHART, "valid", "c1", correlation)
    client = events_gateway.client

    async with streaming(client, {"correlation_id": correlation, "since": str(first)}) as s:
        assert (await s.next_event()).id == str(second)
    async with streaming(client, {"correlation_id": correlation, "since": before.isoformat()}) as s:
        assert [f.id for f in await s.events(2)] == [str(first), str(second)]
    # a browser reconnects to the same URL, adding Last-Event-ID: the header wins
    headers = {"Last-Event-ID": str(first)}
    async with streaming(client, {"correlation_id": correlation, "since": "0"}, **headers) as s:
        assert (await s.next_event()).id == str(second)


async def test_filters_by_kind_entity_type_glob_and_correlation(
    events_gateway: RunningGateway, bus: Client
) -> None:
    correlation, deployment, service = (str(uuid.uuid4()) for _ in range(3))
    start = await publish(bus, subjects.DEPLOYMENT, "created", deployment, correlation)
    await publish(bus, subjects.SERVICE, "created", service, correlation)
    await publish(bus, subjects.DEPLOYMENT, "running", deployment, correlation)
    await publish(bus, subjects.SERVICE, "active", service, correlation)
    await publish(bus, subjects.DEPLOYMENT, "updated", deployment, str(uuid.uuid4()))
    marker = await publish(bus, subjects.SERVICE, "deleted", service, correlation)
    cursor = {"since": str(start - 1)}

    async def types(**params: str) -> list[str]:
        found = []
        async with streaming(events_gateway.client, {**cursor, **params}) as s:
            while True:
                frame = await s.next_event()
                found.append(str(frame.event).split(".")[2:4])
                if int(str(frame.id)) >= marker or frame.id is None:
                    return [".".join(t) for t in found]

    service_only = await types(kind="service", correlation_id=correlation)
    assert service_only == ["service.created", "service.active", "service.deleted"]
    of_entity = await types(entity_id=service, type="io.slipway.service.*")
    assert of_entity == ["service.created", "service.active", "service.deleted"]
    exact = await types(type="io.slipway.service.deleted.v1", correlation_id=correlation)
    assert exact == ["service.deleted"]
    all_of_one_chain = await types(correlation_id=correlation)
    assert all_of_one_chain == [
        "deployment.created",
        "service.created",
        "deployment.running",
        "service.active",
        "service.deleted",
    ]


async def test_a_quiet_stream_carries_heartbeat_comments(events_gateway: RunningGateway) -> None:
    params = {"kind": "nothing_ever_happens"}
    async with streaming(events_gateway.client, params) as s:
        while s.comments.count("heartbeat") < 2:
            await s.next_frame(timeout_s=5 * HEARTBEAT_S)  # TimeoutError: no heartbeat
    assert s.comments[-2:] == ["heartbeat", "heartbeat"]


async def test_a_cursor_older_than_the_stream_keeps_is_gone(
    events_gateway: RunningGateway, bus: Client
) -> None:
    js = bus.jetstream()
    kept = await publish(bus, subjects.RELEASE, "created", "r1", "c")
    await js.purge_stream(subjects.EVENTS_STREAM, seq=kept)  # older events dropped
    client = events_gateway.client

    problem = assert_problem(await client.get("/api/events", headers={"Last-Event-ID": "1"}), 410)
    assert str(kept) in problem["detail"]
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert_problem(await client.get("/api/events", params={"since": an_hour_ago}), 410)
    # right at the oldest kept event is fine
    async with streaming(client, {"since": str(kept - 1), "kind": subjects.RELEASE}) as s:
        assert (await s.next_event()).id == str(kept)


async def test_a_bad_cursor_or_filter_is_a_422_naming_it(events_gateway: RunningGateway) -> None:
    client = events_gateway.client
    assert_problem(await client.get("/api/events", params={"since": "yesterday"}), 422, {"since"})
    response = await client.get("/api/events", headers={"Last-Event-ID": "x1"})
    assert_problem(response, 422, {"Last-Event-ID"})
    assert_problem(await client.get("/api/events", params={"kind": "No.Such"}), 422, {"query.kind"})


async def test_viewers_may_stream_and_strangers_may_not(events_gateway: RunningGateway) -> None:
    anonymous = events_gateway.client_as(None)
    async with anonymous:
        response = await anonymous.get("/api/events")
    assert response.status_code == 401
    made = await events_gateway.client.post("/api/tokens", json={"name": "v", "role": "viewer"})
    viewer = events_gateway.client_as(made.json()["token"])
    async with viewer, streaming(viewer) as s:
        assert s.response.status_code == 200


async def test_the_consumer_goes_when_the_client_does(
    events_gateway: RunningGateway, bus: Client
) -> None:
    js = bus.jetstream()

    async def readers() -> set[str]:
        infos = await js.consumers_info(subjects.EVENTS_STREAM)
        return {str(i.name) for i in infos if str(i.name).startswith("sse-")}

    before = await readers()
    async with streaming(events_gateway.client, {"kind": "deployment"}):
        during = await readers()
        assert len(during - before) == 1
    await eventually(lambda: readers_gone(readers, during - before), what="the consumer's removal")


async def readers_gone(readers: Callable[[], Any], mine: set[str]) -> bool:
    return not (await readers()) & mine


async def test_without_follow_the_stream_ends_once_caught_up(
    events_gateway: RunningGateway, bus: Client
) -> None:
    correlation = str(uuid.uuid4())
    first = await publish(bus, subjects.SERVICE, "created", "s9", correlation)
    second = await publish(bus, subjects.SERVICE, "active", "s9", correlation)
    params = {"since": str(first - 1), "follow": "false", "correlation_id": correlation}
    async with events_gateway.client.stream("GET", "/api/events", params=params) as response:
        body = (await response.aread()).decode()  # returns: the stream ended

    assert [line for line in body.splitlines() if line.startswith("id:")] == [
        f"id: {first}",
        f"id: {second}",
    ]
    assert body.rstrip().endswith(": caught up")
