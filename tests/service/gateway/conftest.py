"""The gateway alone: a real NATS server, the real gateway on a loopback HTTP port, and
stub services answering its requests on NATS (the owning services are not started).

`StubService` stands in for an owning service: it keeps entities in memory, answers the
same request-reply subjects with the same reply shapes (`{"ok": true, "data": ...}` /
`{"ok": false, "error": {...}}`) and records what the gateway sent, so a test sees both
sides of the wire.

The folder's tests share one event loop (and so one gateway): an async fixture here
must say `@pytest_asyncio.fixture(loop_scope="session")`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import pytest_asyncio
import slipway_devstack as devstack
import uvicorn
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from slipway_contracts import subjects
from slipway_gateway.app import create_app
from slipway_gateway.settings import GatewaySettings
from slipway_libs import context
from slipway_libs.errors import Conflict, NotFound, PreconditionFailed, SlipwayError
from slipway_libs.messaging import ok
from tests.waiting import eventually

RETRY_AFTER_S = 7
HERE = Path(__file__).resolve().parent

# action -> (statuses it may start from, status it leaves the entity in)
Transitions = dict[str, tuple[set[str], str]]


@dataclass
class Request:
    """One request the gateway sent to a service."""

    subject: str
    payload: dict[str, Any]
    command_id: str | None

    @property
    def name(self) -> str:
        """The command's action or the query's name: the subject's last part."""
        return self.subject.rsplit(".", 1)[-1]


@dataclass
class StubService:
    """An owning service in miniature: entities in memory, revisions, If-Match, transitions.

    `build(payload)` turns a create command into the entity's fields; `transitions` says
    which actions are legal from which status; `answers` overrides a subject's reply.
    """

    entity: str
    build: Callable[[dict[str, Any]], dict[str, Any]]
    transitions: Transitions = field(default_factory=dict)
    answers: dict[str, Callable[[dict[str, Any]], Any]] = field(default_factory=dict)
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[Request] = field(default_factory=list)

    async def attach(self, nc: Client) -> Subscription:
        subscription = await nc.subscribe(f"slipway.{self.entity}.>", cb=self._on_request)
        await nc.flush()
        return subscription

    async def _on_request(self, msg: Msg) -> None:
        payload = json.loads(msg.data)
        headers = msg.headers or {}
        request = Request(msg.subject, payload, headers.get(context.COMMAND_ID_HEADER))
        self.received.append(request)
        try:
            reply = ok(self._answer(request))
        except SlipwayError as error:
            reply = error.to_reply()
        await msg.respond(json.dumps(reply).encode())

    def _answer(self, request: Request) -> Any:
        if request.subject in self.answers:
            return self.answers[request.subject](request.payload)
        kind = request.subject.split(".")[2]
        if kind == "query" and request.name == "list":
            status = request.payload.get("status")
            items = [e for e in self.entities.values() if status in (None, e["status"])]
            return {"items": items, "next_cursor": None}
        if request.name == "create":
            return self.add(self.build(request.payload))
        entity = self.get(request.payload["id"])
        if kind == "query":
            return entity
        expected = request.payload.get("expected_revision")
        if expected is not None and expected != entity["revision"]:
            raise PreconditionFailed(
                f"{self.entity} '{entity['id']}' is at revision {entity['revision']}, "
                f"not {expected}",
                {"current_revision": entity["revision"]},
            )
        if request.name == "delete":
            return self.entities.pop(entity["id"])
        changes = {k: v for k, v in request.payload.items() if k not in ("id", "expected_revision")}
        if request.name in self.transitions:
            sources, target = self.transitions[request.name]
            if entity["status"] not in sources:
                raise Conflict(
                    f"cannot {request.name} {self.entity} '{entity['id']}' "
                    f"(current status: {entity['status']})",
                    {"current_status": entity["status"]},
                )
            changes["status"] = target
        entity.update(changes, revision=entity["revision"] + 1, last_updated=now())
        return entity

    def add(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Keep an entity as the service would have created it; return it."""
        stamp = now()
        entity = {"id": str(uuid.uuid4()), "created_at": stamp, "last_updated": stamp}
        entity.update(revision=1, **fields)
        self.entities[entity["id"]] = entity
        return entity

    def get(self, entity_id: str) -> dict[str, Any]:
        if entity_id not in self.entities:
            raise NotFound(f"{self.entity} '{entity_id}' does not exist")
        return self.entities[entity_id]

    def commands(self, action: str) -> list[Request]:
        return [r for r in self.received if r.subject == subjects.command(self.entity, action)]


def now() -> str:
    return datetime.now(UTC).isoformat()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder's tests share one event loop, so they can share one running gateway.
    in_session_loop = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if pytest_asyncio.is_async_test(item) and HERE in item.path.parents:
            item.add_marker(in_session_loop, append=False)


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = devstack.free_port()
    server = devstack.start_nats(Path(tmp_path_factory.mktemp("gateway-nats")), port)
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def running_gateway(
    settings: GatewaySettings, wait_for_nats: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway served by uvicorn on a loopback port, and a client of it."""
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or serving.done(), what="the gateway's start")
        if wait_for_nats:
            await eventually(lambda: app.state.bus.connected, what="the gateway's NATS connection")
        host, port = sock.getsockname()
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        await serving
        sock.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gateway(nats_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """One gateway for the folder's tests; each test brings its own stub services."""
    settings = GatewaySettings(nats_url=nats_url, request_timeout_s=2, retry_after_s=RETRY_AFTER_S)
    async with running_gateway(settings) as client:
        yield client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bus(nats_url: str) -> AsyncIterator[Client]:
    """The stub services' own NATS connection."""
    nc = await nats.connect(nats_url)
    try:
        yield nc
    finally:
        await nc.close()


class Responders:
    """What a test answers on NATS; all of it unsubscribed when the test ends, so the
    next test's stubs are the only ones answering."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.subscriptions: list[Subscription] = []

    async def __call__(self, stub: StubService) -> StubService:
        """Attach a stub service: `stub = await serve(StubService(...))`."""
        self.subscriptions.append(await stub.attach(self.nc))
        return stub

    async def subject(self, subject: str, reply: Any) -> None:
        """Answer every request on `subject` with `{"ok": true, "data": reply}`."""

        async def respond(msg: Msg) -> None:
            await msg.respond(json.dumps(ok(reply)).encode())

        self.subscriptions.append(await self.nc.subscribe(subject, cb=respond))
        await self.nc.flush()

    async def close(self) -> None:
        for subscription in self.subscriptions:
            await subscription.unsubscribe()
        await self.nc.flush()


@pytest_asyncio.fixture(loop_scope="session")
async def serve(bus: Client) -> AsyncIterator[Responders]:
    responders = Responders(bus)
    try:
        yield responders
    finally:
        await responders.close()


def assert_problem(
    response: httpx.Response, status: int, fields: set[str] | None = None
) -> dict[str, Any]:
    """An RFC 9457 problem with `status`, naming exactly `fields` when given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    if fields is not None:
        assert {e["field"] for e in problem["errors"]} == fields, problem
    return problem
