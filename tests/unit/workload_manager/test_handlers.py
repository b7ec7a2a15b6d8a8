"""The workload-manager's handlers on FastStream's test broker, wired to the use cases on
in-memory fakes: replies, error classes, idempotent replays, the projection consumer."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.nats import TestNatsBroker

from slipway_contracts import subjects
from slipway_libs import context
from slipway_libs.messaging import make_broker
from slipway_libs.settings import CommonSettings
from slipway_workload_manager.handlers import commands
from slipway_workload_manager.handlers.context import DEPENDENCIES
from slipway_workload_manager.handlers.events import events_router
from tests.unit.workload_manager.fakes import (
    BACKEND,
    CLUSTER,
    FRONTEND,
    IMAGE,
    RELEASE_SPEC,
    World,
    chart_event,
    cluster_event,
    image_event,
    new_world,
)

GOOD = {"name": "web", "cluster_id": CLUSTER.id, "image": IMAGE.reference, "container_port": 8080}
CREATE = subjects.command(subjects.DEPLOYMENT, "create")
SCALE = subjects.command(subjects.DEPLOYMENT, "scale")


@pytest.fixture
async def bus():
    broker = make_broker(CommonSettings(nats_url="nats://127.0.0.1:1"), "workload-manager")
    broker.include_router(commands.handlers.router(max_concurrency=8))
    broker.include_router(events_router())
    async with TestNatsBroker(broker) as test_broker:
        world = new_world()
        test_broker.context.set_global(DEPENDENCIES, world.deps)
        yield test_broker, world


async def ask(broker, subject: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await broker.request(body, subject, timeout=3, headers=headers)
    return await response.decode()


async def announce(broker, envelope: dict[str, Any]) -> None:
    entity, event = envelope["type"].split(".")[2:4]
    await broker.publish(envelope, subjects.event(entity, event), stream=subjects.EVENTS_STREAM)


async def ready(broker) -> None:
    await announce(broker, cluster_event("running", 1))
    await announce(broker, image_event("built", 2))


async def test_events_reach_the_projections_and_a_deployment_is_accepted(bus):
    broker, world = bus
    await ready(broker)
    assert (await world.projections.cluster(CLUSTER.id)).status == "running"
    reply = await ask(broker, CREATE, GOOD)
    assert reply["ok"] is True
    assert (reply["data"]["status"], reply["data"]["image_id"]) == ("pending", IMAGE.id)
    assert reply["data"]["id"] in world.deployments.rows


async def test_a_repeated_command_id_gets_the_first_reply(bus):
    broker, world = bus
    await ready(broker)
    headers = {context.COMMAND_ID_HEADER: "command-1"}
    first = await ask(broker, CREATE, GOOD, **headers)
    again = await ask(broker, CREATE, GOOD, **headers)
    assert again == first
    assert len(world.deployments.rows) == 1


@pytest.mark.parametrize("replicas", [0, -1])
async def test_replicas_below_one_are_invalid_naming_the_field(bus, replicas):
    broker, world = bus
    created = await ask(broker, CREATE, {**GOOD, "replicas": replicas})
    scaled = await ask(broker, SCALE, {"id": "d1", "replicas": replicas})
    for reply in (created, scaled):
        assert reply["ok"] is False
        assert reply["error"]["code"] == "invalid"
        assert [d["field"] for d in reply["error"]["details"]] == ["replicas"]
    assert world.deployments.rows == {}


async def test_a_deployment_needs_an_image_and_a_service_a_port_in_range(bus):
    broker, _ = bus
    no_image = {k: v for k, v in GOOD.items() if k != "image"}
    reply = await ask(broker, CREATE, no_image)
    assert reply["error"]["code"] == "invalid"
    assert "image_id' or 'image" in reply["error"]["message"]
    service = {"name": "web", "deployment_id": "d1", "port": 70000, "target_port": 8080}
    reply = await ask(broker, subjects.command(subjects.SERVICE, "create"), service)
    assert [d["field"] for d in reply["error"]["details"]] == ["port"]


async def test_a_conflict_keeps_its_code_and_the_current_status(bus):
    broker, _ = bus
    await ready(broker)
    created = (await ask(broker, CREATE, GOOD))["data"]
    await announce(broker, cluster_event("stopped", 3))
    reply = await ask(broker, SCALE, {"id": created["id"], "replicas": 5})
    assert reply["error"]["code"] == "conflict"
    assert reply["error"]["details"]["current_status"] == "stopped"


async def test_an_unknown_deployment_is_not_found(bus):
    broker, _ = bus
    reply = await ask(broker, subjects.query(subjects.DEPLOYMENT, "get"), {"id": "nosuch"})
    assert reply["error"]["code"] == "not_found"


async def test_the_queries_answer_the_entity_and_pages(bus: tuple[Any, World]):
    broker, _ = bus
    await ready(broker)
    created = (await ask(broker, CREATE, GOOD))["data"]
    got = await ask(broker, subjects.query(subjects.DEPLOYMENT, "get"), {"id": created["id"]})
    assert got == {"ok": True, "data": created}
    page = await ask(broker, subjects.query(subjects.DEPLOYMENT, "list"), {"status": "pending"})
    assert page["data"] == {"items": [created], "next_cursor": None}
    none = await ask(broker, subjects.query(subjects.SERVICE, "list"), {})
    assert none["data"] == {"items": [], "next_cursor": None}


# --- releases -------------------------------------------------------------------------------

RELEASE = subjects.RELEASE


async def release_ready_on(broker) -> None:
    await announce(broker, cluster_event("running", 1))
    await announce(broker, chart_event("valid", 2))
    for image in (FRONTEND, BACKEND):
        await announce(broker, image_event("built", 3, image))


async def test_a_release_is_installed_queried_and_previewed_over_the_bus(bus):
    broker, world = bus
    await release_ready_on(broker)
    created = await ask(broker, subjects.command(RELEASE, "create"), RELEASE_SPEC)
    assert created["ok"] and created["data"]["status"] == "pending"
    release_id = created["data"]["id"]
    got = await ask(broker, subjects.query(RELEASE, "get"), {"id": release_id})
    assert got == created
    history = await ask(broker, subjects.query(RELEASE, "history"), {"id": release_id})
    assert history == {"ok": True, "data": []}
    preview = await ask(broker, subjects.query(RELEASE, "preview"), {"spec": RELEASE_SPEC})
    assert "Deployment/todo-backend: created" in preview["data"]["changes"]
    assert list(world.releases.rows) == [release_id]


async def test_release_refusals_keep_their_codes_and_fields(bus):
    broker, _ = bus
    await release_ready_on(broker)
    unbuilt = {**RELEASE_SPEC, "images": {"backend.image": "nosuch"}}
    reply = await ask(broker, subjects.command(RELEASE, "create"), unbuilt)
    assert reply["error"]["code"] == "invalid"
    assert [d["field"] for d in reply["error"]["details"]] == ["images.backend.image"]
    bad_spec = await ask(broker, subjects.query(RELEASE, "preview"), {"spec": {"name": "x"}})
    assert bad_spec["error"]["code"] == "invalid"
    await announce(broker, chart_event("invalid", 4))
    reply = await ask(broker, subjects.command(RELEASE, "create"), RELEASE_SPEC)
    assert (reply["error"]["code"], reply["error"]["details"]["current_status"]) == (
        "conflict",
        "invalid",
    )
