"""A worker built with the shared composition root, against the real NATS and MongoDB."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import nats
import pytest
import slipway_devstack as devstack
from faststream import FastStream
from nats.aio.msg import Msg
from pymongo import AsyncMongoClient

from slipway_libs.messaging import DeclaredPublishers
from slipway_libs.settings import CommonSettings
from slipway_libs.worker import RequestHandlers, WorkerKit, build_worker_app
from tests.helpers import keep_test_logging  # noqa: F401 (an autouse fixture)
from tests.stack import Stack
from tests.waiting import eventually

pytestmark = pytest.mark.asyncio


def worker(
    settings: CommonSettings,
    assemble: Callable[[WorkerKit[CommonSettings]], Awaitable[None]],
    handlers: RequestHandlers | None = None,
    name: str | None = None,
) -> tuple[str, FastStream]:
    name = name or f"kit-test-{uuid.uuid4().hex[:8]}"

    def no_publishers(publishers: DeclaredPublishers) -> None:
        pass

    app = build_worker_app(
        name,
        settings,
        database=database_of(name),
        routers=[handlers] if handlers else [],
        declare_publishers=no_publishers,
        assemble=assemble,
    )
    return name, app


def database_of(name: str) -> str:
    return f"slipway_{name.replace('-', '_')}"


async def nothing(kit: WorkerKit[CommonSettings]) -> None:
    pass


async def poll_healthz(url: str, status: int, timeout_s: float = 30) -> httpx.Response:
    """The first answer of `url` with `status` (a server not yet listening is retried)."""
    async with httpx.AsyncClient(timeout=5) as client:

        async def answer() -> httpx.Response | None:
            try:
                response = await client.get(url)
            except httpx.TransportError:
                return None  # not listening yet
            return response if response.status_code == status else None

        return await eventually(answer, timeout_s=timeout_s, what=f"{url} answering {status}")


async def answer_on(nc: nats.NATS, subject: str) -> Msg | None:
    """The reply on `subject`, or None while nothing subscribes to it."""
    try:
        return await nc.request(subject, b"", timeout=5)
    except nats.errors.NoRespondersError:
        return None


async def test_a_running_worker_answers_healthz_and_its_health_subject(stack: Stack) -> None:
    port = devstack.free_port()
    settings = CommonSettings(
        nats_url=stack.nats_url,
        nats_nkey_file=stack.nkey_file("admin"),
        mongodb_uri=stack.mongodb_uri,
        health_port=port,
    )
    rounds: list[float] = []

    async def assemble(kit: WorkerKit[CommonSettings]) -> None:
        async def sweep() -> None:
            rounds.append(time.monotonic())

        kit.every(0.05, sweep, "test sweep")

    name, app = worker(settings, assemble)
    running = asyncio.create_task(app.run())
    try:
        healthz = await poll_healthz(f"http://127.0.0.1:{port}/healthz", 200)
        nc = await nats.connect(**stack.nats_options("admin"))
        try:
            # HTTP answers from the start; the subject once the broker has subscribed.
            reply = await eventually(
                functools.partial(answer_on, nc, f"slipway.health.{name}"),
                timeout_s=30,
                what="the health subject answering",
            )
        finally:
            await nc.close()
        elsewhere = await poll_healthz(f"http://127.0.0.1:{port}/metrics", 404)
    finally:
        app.exit()
        await asyncio.wait_for(running, 30)
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri)
        await mongo.drop_database(database_of(name))
        await mongo.close()

    assert healthz.json() == {"status": "ok"}
    assert healthz.headers["content-type"] == "application/json"
    assert json.loads(reply.data) == {"ok": True, "data": {"service": name}}
    assert elsewhere.json()["status"] == "not found"
    assert rounds, "the registered loop never ran"
    with pytest.raises(httpx.ConnectError):  # stopped with the service
        httpx.get(f"http://127.0.0.1:{port}/healthz")


async def test_healthz_answers_503_while_mongodb_is_unreachable() -> None:
    port = devstack.free_port()
    nowhere = devstack.mongodb_uri(devstack.free_port())  # nothing listens there
    settings = CommonSettings(mongodb_uri=nowhere, mongodb_timeout_s=0.5, health_port=port)
    _, app = worker(settings, nothing)
    running = asyncio.create_task(app.run())
    try:
        response = await poll_healthz(f"http://127.0.0.1:{port}/healthz", 503)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running

    body: dict[str, Any] = response.json()
    assert body["status"] == "unavailable"
    assert body["error"].startswith("MongoDB is unavailable")


async def test_requests_are_handled_concurrently(stack: Stack) -> None:
    name = f"kit-test-{uuid.uuid4().hex[:8]}"
    subject = f"slipway.{name.replace('-', '_')}.query.wait"
    settings = CommonSettings(
        nats_url=stack.nats_url,
        nats_nkey_file=stack.nkey_file("admin"),
        mongodb_uri=stack.mongodb_uri,
    )
    handlers = RequestHandlers(name)
    entered: list[int] = []
    release = asyncio.Event()

    @handlers.subscriber(subject)
    async def wait(body: dict[str, Any]) -> dict[str, Any]:
        entered.append(body["n"])
        if body["n"] == 1:
            await release.wait()  # a slow request: the next one must not wait behind it
        return {"ok": True, "data": body["n"]}

    _, app = worker(settings, nothing, handlers, name)
    running = asyncio.create_task(app.run())
    nc = await nats.connect(**stack.nats_options("admin"))
    try:
        await eventually(
            functools.partial(has_responders, nc, f"slipway.health.{name}"), what="serving"
        )
        slow = asyncio.create_task(nc.request(subject, b'{"n": 1}', timeout=30))
        await eventually(lambda: entered == [1], what="the slow request inside")
        quick = await nc.request(subject, b'{"n": 2}', timeout=10)
        assert json.loads(quick.data)["data"] == 2
        assert not slow.done()
        release.set()
        assert json.loads((await slow).data)["data"] == 1
    finally:
        release.set()
        await nc.close()
        app.exit()
        await asyncio.wait_for(running, 30)
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri)
        await mongo.drop_database(database_of(name))
        await mongo.close()


async def has_responders(nc: nats.NATS, subject: str) -> bool:
    return await answer_on(nc, subject) is not None


async def test_a_worker_serves_its_metrics_and_runs_on_when_its_metrics_port_is_taken(
    stack: Stack,
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = {"free": devstack.free_port(), "taken": taken.getsockname()[1]}
    try:
        for case, metrics_port in ports.items():
            health_port = devstack.free_port()
            settings = CommonSettings(
                nats_url=stack.nats_url,
                nats_nkey_file=stack.nkey_file("admin"),
                mongodb_uri=stack.mongodb_uri,
                health_port=health_port,
                metrics_port=metrics_port,
                metrics_interval_s=0.2,
            )
            name, app = worker(settings, nothing)
            running = asyncio.create_task(app.run())
            try:
                await poll_healthz(f"http://127.0.0.1:{health_port}/healthz", 200)
                if case == "free":
                    scraped = await eventually(
                        functools.partial(scrape, metrics_port, f'service="{name}"'),
                        timeout_s=30,
                        what="the worker's gauges on /metrics",
                    )
                    assert f'slipway_outbox_backlog{{service="{name}"}} 0.0' in scraped
                    assert "slipway_bus_received_messages_total" in scraped
            finally:
                app.exit()
                await asyncio.wait_for(running, 30)
                mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri)
                await mongo.drop_database(database_of(name))
                await mongo.close()
    finally:
        taken.close()
    with pytest.raises(httpx.ConnectError):  # stopped with the service
        httpx.get(f"http://127.0.0.1:{ports['free']}/metrics")


async def scrape(port: int, wanted: str) -> str | None:
    """The worker's /metrics once it holds `wanted` (None before)."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    except httpx.TransportError:
        return None
    return text if wanted in text else None
