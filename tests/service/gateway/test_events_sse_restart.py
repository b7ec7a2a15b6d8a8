"""`GET /api/events` across a NATS restart: the stream ends (its consumer is gone with the
server's memory), and the client resumes with Last-Event-ID, missing nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import nats
import pytest
import pytest_asyncio

from slipway_contracts import subjects
from slipway_gateway.settings import GatewaySettings
from slipway_libs.messaging import ensure_streams
from tests.events import cloud_event, publish_event
from tests.service.gateway.conftest import RunningGateway, serving
from tests.service.gateway.test_audit_feed import NatsServer
from tests.sse import EventStream
from tests.waiting import eventually


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    running = NatsServer(tmp_path_factory.mktemp("sse-nats"))
    try:
        yield running
    finally:
        running.process.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway_on_it(
    server: NatsServer, gateway_settings: Callable[..., GatewaySettings]
) -> AsyncIterator[RunningGateway]:
    async with serving(gateway_settings(nats_url=server.url, events_heartbeat_s=0.5)) as running:
        yield running


async def publish(server: NatsServer, correlation: str) -> int:
    nc = await nats.connect(server.url)
    try:
        await ensure_streams(nc.jetstream())
        event = cloud_event(subjects.DEPLOYMENT, "updated", "d1", correlation)
        return await publish_event(nc, event)
    finally:
        await nc.close()


async def test_the_stream_ends_on_a_nats_restart_and_resumes_exactly(
    gateway_on_it: RunningGateway, server: NatsServer
) -> None:
    correlation = str(uuid.uuid4())
    first = await publish(server, correlation)
    params = {"since": str(first - 1), "correlation_id": correlation}
    client = gateway_on_it.client
    async with client.stream("GET", "/api/events", params=params, timeout=30) as response:
        stream = EventStream(response)
        assert (await stream.next_event()).id == str(first)
        server.restart()
        # the stream ends (or fails) once the gateway finds its consumer gone
        frames = []
        try:
            while True:
                frames.append(await stream.next_frame(timeout_s=20))
        except StopAsyncIteration:
            pass
    assert not [f for f in frames if f.data]
    await eventually(lambda: gateway_on_it.app.state.bus.connected, what="the reconnect")
    second = await publish(server, correlation)

    headers = {"Last-Event-ID": str(first)}
    async with client.stream("GET", "/api/events", params=params, headers=headers) as response:
        assert (await EventStream(response).next_event()).id == str(second)
