"""The gateway alone: a real NATS server, a real MongoDB (the gateway's tokens and audit
log), the real gateway on a loopback HTTP port, and stub services answering its requests
on NATS (the owning services are not started).

Every gateway here runs with authentication on; its client carries the bootstrap admin
token (read from the token file the gateway made in its own state directory).

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
from fastapi import FastAPI
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


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB replica set (one node, no access control) for the gateways' databases."""
    port = devstack.free_port()
    server = devstack.start_mongod(Path(tmp_path_factory.mktemp("gateway-mongo")), port)
    try:
        yield devstack.mongodb_uri(port)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gateway_settings(
    nats_url: str, mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., GatewaySettings]:
    """`gateway_settings(**overrides)`: settings of a gateway of its own: its own state
    directory (so its own admin token file) and its own MongoDB database."""

    def settings(**overrides: Any) -> GatewaySettings:
        fields: dict[str, Any] = {
            "nats_url": nats_url,
            "mongodb_uri": mongodb_uri,
            "mongodb_timeout_s": 2,
            "state_dir": tmp_path_factory.mktemp("gateway-state"),
            "database": f"gateway_{uuid.uuid4().hex[:12]}",
            "request_timeout_s": 2,
            "retry_after_s": RETRY_AFTER_S,
        }
        return GatewaySettings(**{**fields, **overrides})

    return settings


@dataclass
class RunningGateway:
    """A gateway being served: its app, its settings and a client carrying its admin token."""

    app: FastAPI
    settings: GatewaySettings
    client: httpx.AsyncClient

    @property
    def admin_token(self) -> str:
        return self.settings.admin_token_path.read_text().strip()

    def client_as(self, token: str | None) -> httpx.AsyncClient:
        """A client of this gateway sending `token` (None: no Authorization header)."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.AsyncClient(base_url=self.client.base_url, headers=headers, timeout=10)


@contextlib.asynccontextmanager
async def serving(
    settings: GatewaySettings, wait_for_nats: bool = True
) -> AsyncIterator[RunningGateway]:
    """The gateway served by uvicorn on a loopback port, and an admin client of it."""
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    serving_task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or serving_task.done(), what="the gateway's start")
        if wait_for_nats:
            await eventually(lambda: app.state.bus.connected, what="the gateway's NATS connection")
        host, port = sock.getsockname()
        headers = {}
        if settings.auth_enabled:
            token = settings.admin_token_path.read_text().strip()
            headers["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient(
            base_url=f"http://{host}:{port}", headers=headers, timeout=10
        ) as client:
            yield RunningGateway(app, settings, client)
    finally:
        server.should_exit = True
        await serving_task
        sock.close()


@contextlib.asynccontextmanager
async def running_gateway(
    settings: GatewaySettings, wait_for_nats: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway served on a loopback port, and a client of it carrying the admin token."""
    async with serving(settings, wait_for_nats) as running:
        yield running.client


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_gateway(
    gateway_settings: Callable[..., GatewaySettings],
) -> AsyncIterator[RunningGateway]:
    """One gateway (authentication on) for the folder's tests; each test brings its own
    stub services."""
    async with serving(gateway_settings()) as running:
        yield running


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gateway(shared_gateway: RunningGateway) -> httpx.AsyncClient:
    """A client of the shared gateway, as its bootstrap admin."""
    return shared_gateway.client


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


@dataclass
class Caller:
    """A client of a gateway carrying a token of its own."""

    client: httpx.AsyncClient
    token: dict[str, Any]  # the `POST /api/tokens` answer: the secret is `token["token"]`

    @property
    def name(self) -> str:
        return str(self.token["name"])

    @property
    def id(self) -> str:
        return str(self.token["id"])


class Callers:
    """Makes tokens (as the gateway's admin) and clients using them; closes them after."""

    def __init__(self, gateway: RunningGateway) -> None:
        self.gateway = gateway
        self.clients: list[httpx.AsyncClient] = []

    async def __call__(self, role: str, name: str | None = None, **fields: Any) -> Caller:
        """A caller with a new token of `role` (`fields`: scope, expires_in_s)."""
        body = {"name": name or f"{role}-{uuid.uuid4().hex[:8]}", "role": role, **fields}
        response = await self.gateway.client.post("/api/tokens", json=body)
        assert response.status_code == 201, response.text
        token = response.json()
        client = self.gateway.client_as(token["token"])
        self.clients.append(client)
        return Caller(client, token)

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def callers(shared_gateway: RunningGateway) -> AsyncIterator[Callers]:
    made = Callers(shared_gateway)
    try:
        yield made
    finally:
        await made.close()
