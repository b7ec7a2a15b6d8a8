"""The audit entries services publish on SLIPWAY_AUDIT land in the gateway's audit log: once
each, malformed ones terminated, across a NATS restart. This module has a NATS server of
its own (the durable consumer is shared by every gateway on a server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import pytest_asyncio
import slipway_devstack as devstack
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import NotFoundError

from slipway_contracts import subjects
from slipway_contracts.access import audit_entry
from slipway_gateway.adapters.audit_feed import DURABLE
from slipway_libs.messaging import ensure_streams
from tests.service.gateway.conftest import serving
from tests.waiting import eventually


class NatsServer:
    """A NATS server that can be stopped and started again on its port and its store."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.port = devstack.free_port()
        self.process = devstack.start_nats(state_dir, self.port)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def restart(self) -> None:
        self.process.stop()
        self.process = devstack.start_nats(self.state_dir, self.port)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    running = NatsServer(tmp_path_factory.mktemp("feed-nats"))
    try:
        yield running
    finally:
        running.process.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def admin(server, gateway_settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(gateway_settings(nats_url=server.url)) as running:
        yield running.client


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service_connection(server, admin) -> AsyncIterator[Client]:
    """A worker service's connection, publishing its audit entries (it makes sure of the
    streams, as a service does at its start)."""
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    await ensure_streams(nc.jetstream())
    try:
        yield nc
    finally:
        await nc.close()


def nats_entry(service: str, **fields: Any) -> dict[str, Any]:
    """An audit entry as a worker service records a command it received over NATS."""
    now = datetime.now(UTC).isoformat()
    return {
        "auditID": str(uuid.uuid4()),
        "requestURI": subjects.command(subjects.DEPLOYMENT, "scale"),
        "verb": "scale",
        "user": {"username": f"nats:{service}"},
        "objectRef": {"resource": "deployment", "name": "d1", "namespace": "shop"},
        "responseStatus": {"status": "Success"},
        "requestReceivedTimestamp": now,
        "stageTimestamp": now,
        "annotations": {"slipway.io/via": "nats"},
        **fields,
    }


async def publish(nc: Client, payload: bytes) -> None:
    await nc.jetstream().publish(subjects.audit("x"), payload, stream=subjects.AUDIT_STREAM)


async def published(nc: Client, payload: bytes) -> bool:
    try:
        await publish(nc, payload)
    except NatsError:
        return False
    return True


async def logged(admin: httpx.AsyncClient, actor: str) -> list[dict[str, Any]]:
    response = await admin.get("/api/audit", params={"actor": actor})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled(nc: Client) -> bool:
    """Every message on the stream taken, acked or terminated, none waiting for an ack."""
    try:
        info = await nc.jetstream().consumer_info(subjects.AUDIT_STREAM, DURABLE)
    except NotFoundError:  # the gateway has not made its consumer yet
        return False
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_an_entry_published_on_the_audit_stream_lands_in_the_log(admin, service_connection):
    entry = nats_entry("integration-x")

    await publish(service_connection, audit_entry(**entry).model_dump_json().encode())

    [found] = await eventually(
        lambda: logged(admin, "nats:integration-x"), what="the entry in /api/audit"
    )
    assert found["auditID"] == entry["auditID"]
    assert found["annotations"] == {"slipway.io/via": "nats"}
    assert found["objectRef"]["namespace"] == "shop"


async def test_an_entry_delivered_twice_is_kept_once(admin, service_connection):
    payload = audit_entry(**nats_entry("twice")).model_dump_json().encode()

    await publish(service_connection, payload)
    await publish(service_connection, payload)

    await eventually(lambda: settled(service_connection), what="both deliveries taken")
    assert len(await logged(admin, "nats:twice")) == 1


@pytest.mark.parametrize(
    "payload",
    [b"not json", b'{"auditID": "x"}', b"[]"],
    ids=["not json", "not an entry", "an array"],
)
async def test_a_malformed_entry_is_terminated_and_the_feed_goes_on(
    admin, service_connection, payload
):
    await publish(service_connection, payload)
    await publish(service_connection, audit_entry(**nats_entry("after")).model_dump_json().encode())

    await eventually(lambda: settled(service_connection), what="the malformed entry terminated")
    info = await service_connection.jetstream().consumer_info(subjects.AUDIT_STREAM, DURABLE)
    assert info.num_redelivered == 0
    assert await logged(admin, "nats:after")


async def test_the_feed_outlives_a_nats_restart(admin, service_connection, server):
    server.restart()
    await eventually(lambda: service_connection.is_connected, what="the publisher reconnected")
    entry = nats_entry("after-restart")
    payload = audit_entry(**entry).model_dump_json().encode()

    # JetStream answers a moment after the server does; a repeat is the same entry.
    await eventually(lambda: published(service_connection, payload), what="JetStream back")

    [found] = await eventually(
        lambda: logged(admin, "nats:after-restart"), what="the entry after the restart"
    )
    assert found["auditID"] == entry["auditID"]
