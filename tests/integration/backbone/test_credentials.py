"""One credential per principal, against real servers started as `make run` starts them:
NATS refuses anonymous clients and holds each principal to its permissions; MongoDB refuses
clients without credentials and keeps each service to its own database; the credential
files are private and survive a restart."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from slipway_contracts import subjects
from slipway_contracts.access import PRINCIPALS
from slipway_libs.messaging import ensure_streams
from tests.events import read_events
from tests.integration.backbone.conftest import SecuredServers
from tests.waiting import eventually, poll

IMAGE = subjects.CONTAINER_IMAGE


class Errors:
    """A client's error callback: what the server reported to it."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, error: Exception) -> None:
        self.seen.append(str(error))

    def naming(self, text: str) -> Callable[[], list[str]]:
        return lambda: [e for e in self.seen if text.lower() in e.lower()]


Connect = Callable[..., Awaitable[tuple[Client, Errors]]]


@pytest.fixture
async def connect(secured: SecuredServers) -> AsyncIterator[Connect]:
    """Connect as a principal; every connection is closed at the end."""
    opened: list[Client] = []

    async def as_principal(principal: str) -> tuple[Client, Errors]:
        errors = Errors()
        client = await nats.connect(**secured.nats_options(principal, error_cb=errors.record))
        opened.append(client)
        return client, errors

    yield as_principal
    for client in opened:
        await client.close()


async def published_events(admin: Client, count: int) -> list[str]:
    """`count` events published as the image-builder's relay would (admin here); their ids."""
    js = admin.jetstream()
    await ensure_streams(js)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for event_id in ids:
        event = {"id": event_id, "subject": event_id, "type": "io.slipway.container_image.created"}
        subject = subjects.event(IMAGE, "created")
        await js.publish(subject, json.dumps(event).encode(), headers={"Nats-Msg-Id": event_id})
    return ids


async def test_nats_refuses_an_anonymous_client(secured: SecuredServers) -> None:
    errors = Errors()
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(secured.nats_url, allow_reconnect=False, error_cb=errors.record)
    assert errors.naming("Authorization Violation")()


async def test_the_events_reader_replays_events_but_no_command_it_sends_arrives(
    connect: Connect,
) -> None:
    admin, _ = await connect("admin")
    ids = await published_events(admin, 3)
    builder, _ = await connect("image-builder")
    received: list[Msg] = []

    async def answer(msg: Msg) -> None:
        received.append(msg)
        await msg.respond(b'{"ok": true, "data": null}')

    create = subjects.command(IMAGE, "create")
    await builder.subscribe(create, queue="image-builder", cb=answer)
    await builder.flush()
    reader, errors = await connect("events-reader")

    replayed = await read_events(reader, subjects.event(IMAGE, ">"))
    await reader.publish(create, b'{"name": "sneaky"}')
    await reader.flush()
    refused = await eventually(
        errors.naming("permissions violation"), timeout_s=10, what="the refusal"
    )
    with pytest.raises(nats.errors.TimeoutError):  # a request gets no answer either
        await reader.request(create, b'{"name": "sneaky"}', timeout=0.5)
    await admin.publish(create, b'{"name": "marker"}')  # after the refusal, in order
    await eventually(lambda: received, what="the marker command")

    assert [e["id"] for _, e in replayed][-3:] == ids
    assert refused == [f'nats: permissions violation for publish to "{create}"']
    assert [json.loads(m.data)["name"] for m in received] == ["marker"]


async def test_the_events_reader_follows_events_with_an_ordered_consumer(
    connect: Connect,
) -> None:
    admin, _ = await connect("admin")
    ids = await published_events(admin, 2)
    reader, errors = await connect("events-reader")
    js = reader.jetstream()

    ordered = await js.subscribe(
        subjects.event(IMAGE, ">"), ordered_consumer=True, stream=subjects.EVENTS_STREAM
    )
    seen: list[str] = []

    async def all_seen() -> bool:
        seen.append(json.loads((await ordered.next_msg(timeout=5)).data)["id"])
        return set(ids) <= set(seen)

    await eventually(all_seen, timeout_s=15, what="both events over an ordered consumer")
    await ordered.unsubscribe()

    assert errors.seen == []


async def test_the_gateway_cannot_publish_an_event(connect: Connect) -> None:
    admin, _ = await connect("admin")
    await published_events(admin, 1)
    js = admin.jetstream()
    before = (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
    gateway, errors = await connect("gateway")

    await gateway.publish(subjects.event(IMAGE, "built"), b'{"forged": true}')
    await gateway.flush()
    refused = await eventually(
        errors.naming("permissions violation"), timeout_s=10, what="the refusal"
    )

    assert refused == [
        'nats: permissions violation for publish to "slipway.events.container_image.built"'
    ]
    assert (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq == before


async def test_a_service_cannot_listen_to_another_services_commands(connect: Connect) -> None:
    builder, errors = await connect("image-builder")

    await builder.subscribe(subjects.command(IMAGE, "create"))  # its own: allowed
    await builder.subscribe(subjects.command(subjects.DEPLOYMENT, "create"))
    await builder.flush()
    refused = await eventually(
        errors.naming("permissions violation"), timeout_s=10, what="the refusal"
    )

    assert refused == [
        'nats: permissions violation for subscription to "slipway.deployment.cmd.create"'
    ]


def test_mongodb_without_credentials_lists_and_reads_nothing(secured: SecuredServers) -> None:
    with MongoClient(secured.mongodb_uri("image-builder")) as builder:
        builder.slipway_image_builder.images.insert_one({"name": "web"})
    anonymous: MongoClient[dict[str, Any]] = MongoClient(
        "127.0.0.1", secured.mongo_port, directConnection=True, serverSelectionTimeoutMS=5000
    )
    try:
        with pytest.raises(OperationFailure, match="requires authentication"):
            anonymous.list_database_names()
        with pytest.raises(OperationFailure, match="requires authentication"):
            anonymous.slipway_image_builder.images.find_one()
    finally:
        anonymous.close()


def test_a_service_user_reads_and_writes_only_its_own_database(secured: SecuredServers) -> None:
    with MongoClient(secured.mongodb_uri("workload-manager")) as manager:
        manager.slipway_workload_manager.deployments.insert_one({"name": "web"})
        assert manager.slipway_workload_manager.deployments.count_documents({}) >= 1
        with pytest.raises(OperationFailure, match="not authorized"):
            manager.slipway_image_builder.images.find_one()
        with pytest.raises(OperationFailure, match="not authorized"):
            manager.slipway_gateway.tokens.insert_one({"role": "admin"})


def test_a_service_user_has_transactions_and_change_streams(secured: SecuredServers) -> None:
    with MongoClient(secured.mongodb_uri("chart-validator")) as validator:
        charts = validator.slipway_chart_validator.charts
        with charts.watch() as changes:
            with validator.start_session() as session, session.start_transaction():
                charts.insert_one({"name": "web"}, session=session)
                validator.slipway_chart_validator.outbox.insert_one({"e": 1}, session=session)
            change = poll(changes.try_next, timeout_s=10, interval_s=0.05, what="the change")

    assert change["operationType"] == "insert"
    assert change["fullDocument"]["name"] == "web"


def test_credential_files_are_private_and_kept_across_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    servers = SecuredServers(tmp_path_factory.mktemp("restarted"))
    state = servers.state_dir
    try:
        servers.start()
        private = [
            *(state / "nats").glob("*.nk"),
            *(state / "mongo").glob("*.uri"),
            state / "mongo" / "keyfile",
        ]
        kept = {path: path.read_bytes() for path in private}
        servers.stop()
        servers.start()
        with MongoClient(servers.mongodb_uri("image-builder")) as builder:
            builder.slipway_image_builder.images.insert_one({"after": "restart"})
    finally:
        servers.stop()

    assert {p.name for p in (state / "nats").glob("*.nk")} == {f"{p}.nk" for p in PRINCIPALS}
    assert {p.name for p in (state / "mongo").glob("*.uri")} == {
        "admin.uri",
        "image-builder.uri",
        "chart-validator.uri",
        "cluster-manager.uri",
        "workload-manager.uri",
        "gateway.uri",
    }
    assert {path: path.read_bytes() for path in private} == kept
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in private)
    principals = json.loads((state / "nats" / "principals.json").read_text())
    assert set(principals) == set(PRINCIPALS)
    assert stat.S_IMODE((state / "nats" / "principals.json").stat().st_mode) == 0o644


@pytest.mark.parametrize("principal", ["gateway", "integration", "admin"])
async def test_only_the_workload_manager_reaches_the_pull_secret_query(
    connect: Connect, principal: str
) -> None:
    builder, _ = await connect("image-builder")
    asked: list[str] = []

    async def answer(msg: Msg) -> None:
        asked.append(msg.subject)
        await msg.respond(b'{"ok": true, "data": {"credentials": "none"}}')

    await builder.subscribe(subjects.pull_secret(), queue="image-builder", cb=answer)
    await builder.flush()
    other, errors = await connect(principal)
    manager, _ = await connect("workload-manager")

    await other.publish(subjects.pull_secret(), b'{"id": "i-1"}')
    await other.flush()
    refused = await eventually(
        errors.naming("permissions violation"), timeout_s=10, what="the refusal"
    )
    reply = await manager.request(subjects.pull_secret(), b'{"id": "i-1"}', timeout=5)

    assert refused == [f'nats: permissions violation for publish to "{subjects.pull_secret()}"']
    assert json.loads(reply.data)["ok"] is True
    assert asked == [subjects.pull_secret()]
