"""The audit of commands received over NATS, with a worker's own broker (`make_broker`) on a
NATS that requires credentials: each command it answers is recorded on SLIPWAY_AUDIT naming
the principal whose signature checks, `nats:unverified` otherwise, and never its body; the
gateway's commands are left to the gateway."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats
import nats.js.errors
import pytest
from faststream.nats import NatsBroker, NatsRouter
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from slipway_devstack import credentials

from slipway_contracts import subjects
from slipway_contracts.access import AuditEvent
from slipway_keys.principals import PRINCIPAL_HEADER, Signer
from slipway_libs import context
from slipway_libs.errors import NotFound
from slipway_libs.messaging import ensure_streams, make_broker
from slipway_libs.requests import encode, request
from slipway_libs.settings import CommonSettings
from slipway_libs.unit_of_work import ok
from tests.integration.backbone.conftest import SecuredServers
from tests.waiting import eventually

SERVICE = "image-builder"
CREATE = subjects.command(subjects.CONTAINER_IMAGE, "create")

router = NatsRouter()


@router.subscriber(CREATE, queue=SERVICE)
async def create_image(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("id") == "missing":
        raise NotFound("no image 'missing'")
    return ok({"id": body.get("id") or "new"})


@pytest.fixture
async def admin(secured: SecuredServers) -> AsyncIterator[Client]:
    client = await nats.connect(**secured.nats_options("admin"))
    await ensure_streams(client.jetstream())
    yield client
    await client.close()


@pytest.fixture
async def worker(secured: SecuredServers, admin: Client) -> AsyncIterator[NatsBroker]:
    """The image-builder's broker, connected as the image-builder."""
    settings = CommonSettings(
        nats_url=secured.nats_url,
        nats_nkey_file=secured.seed(SERVICE),
        nats_principals_file=credentials.principals_file(secured.state_dir),
    )
    broker = make_broker(settings, SERVICE)
    broker.include_router(router)
    await broker.start()
    yield broker
    await broker.stop()


Send = Callable[..., Awaitable[Any]]


@pytest.fixture
async def send(secured: SecuredServers, worker: NatsBroker) -> AsyncIterator[Send]:
    """Send a create command as `principal` (signed, unless `signed=False`)."""
    opened: dict[str, Client] = {}

    async def as_principal(
        principal: str, body: dict[str, Any], *, signed: bool = True, correlation: str = ""
    ) -> Any:
        if principal not in opened:
            opened[principal] = await nats.connect(**secured.nats_options(principal))
        context.bind(correlation or context.new_id(), None)
        signer = Signer.from_seed_file(secured.seed(principal)) if signed else None
        command_id = context.new_id()
        return await request(
            opened[principal], CREATE, body, timeout_s=5, command_id=command_id, signer=signer
        )

    yield as_principal
    for client in opened.values():
        await client.close()


class AuditLog:
    """What the image-builder recorded on SLIPWAY_AUDIT (read by a consumer of the test's own)."""

    def __init__(self, subscription: JetStreamContext.PullSubscription) -> None:
        self.subscription = subscription
        self.entries: list[tuple[Msg, AuditEvent]] = []

    async def taken(self) -> list[tuple[Msg, AuditEvent]]:
        try:
            messages = await self.subscription.fetch(50, timeout=0.2)
        except nats.errors.TimeoutError:
            return self.entries
        for msg in messages:
            self.entries.append((msg, AuditEvent.model_validate_json(msg.data)))
            await msg.ack()
        return self.entries

    async def entry_of(self, correlation: str) -> tuple[Msg, AuditEvent]:
        async def found() -> tuple[Msg, AuditEvent] | None:
            matching = [e for e in await self.taken() if e[1].correlationID == correlation]
            return matching[0] if matching else None

        return await eventually(found, timeout_s=15, what=f"the audit entry of {correlation}")


@pytest.fixture
async def audit_log(admin: Client) -> AsyncIterator[AuditLog]:
    subscription = await admin.jetstream().pull_subscribe(
        subjects.audit(SERVICE), durable=None, stream=subjects.AUDIT_STREAM
    )
    consumer = (await subscription.consumer_info()).name
    yield AuditLog(subscription)
    await subscription.unsubscribe()
    with contextlib.suppress(nats.js.errors.NotFoundError):  # gone with its stream
        await admin.jetstream().delete_consumer(subjects.AUDIT_STREAM, consumer)


async def test_a_signed_command_is_recorded_as_its_principal_without_its_body(
    send: Send, audit_log: AuditLog
) -> None:
    body = {"id": "img-1", "namespace": "team-a", "build": {"args": {"TOKEN": "hunter2"}}}
    await send("integration", body, correlation="corr-signed")

    msg, entry = await audit_log.entry_of("corr-signed")

    assert msg.subject == subjects.audit(SERVICE)
    assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == entry.auditID
    assert entry.user.username == "nats:integration"
    assert entry.verb == "create"
    assert entry.requestURI == CREATE
    assert entry.objectRef is not None
    assert (entry.objectRef.resource, entry.objectRef.name, entry.objectRef.namespace) == (
        subjects.CONTAINER_IMAGE,
        "img-1",
        "team-a",
    )
    assert (entry.responseStatus.status, entry.responseStatus.reason) == ("Success", None)
    assert entry.annotations == {"slipway.io/via": "nats"}
    assert entry.requestReceivedTimestamp <= entry.stageTimestamp
    assert b"hunter2" not in msg.data


async def test_an_unsigned_command_is_recorded_as_unverified_with_what_it_claimed(
    secured: SecuredServers, worker: NatsBroker, admin: Client, audit_log: AuditLog
) -> None:
    headers = {PRINCIPAL_HEADER: "gateway", context.CORRELATION_HEADER: "corr-claimed"}
    reply = await admin.request(CREATE, encode({"name": "web"}), timeout=5, headers=headers)

    _, entry = await audit_log.entry_of("corr-claimed")

    assert json.loads(reply.data)["ok"] is True
    assert entry.user.username == "nats:unverified"
    assert entry.annotations == {
        "slipway.io/via": "nats",
        "slipway.io/claimed-principal": "gateway",
    }
    assert entry.objectRef is not None and entry.objectRef.name is None


async def test_a_refused_command_is_recorded_with_the_error_code(
    send: Send, audit_log: AuditLog
) -> None:
    with pytest.raises(NotFound):
        await send("integration", {"id": "missing"}, correlation="corr-refused")

    _, entry = await audit_log.entry_of("corr-refused")

    assert entry.user.username == "nats:integration"
    assert (entry.responseStatus.status, entry.responseStatus.reason) == ("Failure", "not_found")


async def test_the_gateways_commands_are_left_to_the_gateways_own_audit(
    send: Send, audit_log: AuditLog
) -> None:
    await send("gateway", {"id": "img-2"}, correlation="corr-gateway")
    await send("integration", {"id": "img-3"}, correlation="corr-after")  # answered after it

    await audit_log.entry_of("corr-after")

    # Of this test's two commands (an earlier test's entry may still be arriving):
    mine = {"corr-gateway", "corr-after"}
    assert [e.correlationID for _, e in audit_log.entries if e.correlationID in mine] == [
        "corr-after"
    ]


async def test_an_entry_that_cannot_be_stored_leaves_the_command_standing(
    send: Send, admin: Client, audit_log: AuditLog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="slipway_libs.audit")
    await admin.jetstream().delete_stream(subjects.AUDIT_STREAM)
    try:
        data = await send("integration", {"id": "img-4"}, correlation="corr-lost")

        warned = await eventually(
            lambda: [r for r in caplog.records if r.getMessage() == "audit entry not recorded"],
            timeout_s=10,
            what="the warning",
        )
    finally:
        await ensure_streams(admin.jetstream())

    assert data == {"id": "img-4"}
    assert warned[0].levelno == logging.WARNING
