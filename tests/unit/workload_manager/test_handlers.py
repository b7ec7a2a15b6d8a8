"""The workload-manager's handlers on FastStream's test broker: replies, error classes,
and the projection consumer."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.nats import TestNatsBroker

from slipway_contracts.commands import CreateDeployment, CreateService, ScaleDeployment
from slipway_libs.errors import Conflict
from slipway_libs.messaging import make_broker
from slipway_workload_manager.handlers import commands
from slipway_workload_manager.handlers.events import events_router
from tests.unit.workload_manager.fakes import cluster_event

GOOD = {"name": "web", "cluster_id": "c1", "image": "shop/web:1.0.0", "container_port": 8080}


class FakeWorkloads:
    """Implements the calls the command handlers make on WorkloadService."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    async def create_deployment(self, command: CreateDeployment) -> dict[str, Any]:
        self.received.append(command)
        return {"ok": True, "data": {"id": "d1", "status": "pending", **command.model_dump()}}

    async def scale_deployment(self, command: ScaleDeployment) -> dict[str, Any]:
        self.received.append(command)
        raise Conflict(
            "cluster 'local' is stopped (current status: stopped)",
            {"field": "cluster_id", "current_status": "stopped"},
        )

    async def create_service(self, command: CreateService) -> dict[str, Any]:
        self.received.append(command)
        return {"ok": True, "data": {"id": "s1", "status": "pending"}}


class FakeReconciler:
    def __init__(self) -> None:
        self.projected: list[dict[str, Any]] = []

    async def project(self, envelope: dict[str, Any]) -> bool:
        self.projected.append(envelope)
        return True


@pytest.fixture
async def bus():
    broker = make_broker("nats://127.0.0.1:1")
    broker.include_router(commands.router)
    broker.include_router(events_router())
    async with TestNatsBroker(broker) as test_broker:
        workloads, reconciler = FakeWorkloads(), FakeReconciler()
        test_broker.context.set_global("workloads", workloads)
        test_broker.context.set_global("reconciler", reconciler)
        yield test_broker, workloads, reconciler


async def ask(broker, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await broker.request(body, subject, timeout=3)
    return await response.decode()


async def test_a_valid_deployment_reaches_the_service_and_its_reply_returns(bus):
    broker, workloads, _ = bus
    reply = await ask(broker, "slipway.deployment.cmd.create", GOOD)
    assert reply["ok"] is True
    assert reply["data"]["status"] == "pending"
    assert workloads.received[0].image == "shop/web:1.0.0"


@pytest.mark.parametrize("replicas", [0, -1])
async def test_replicas_below_one_are_invalid_naming_the_field(bus, replicas):
    broker, workloads, _ = bus
    created = await ask(broker, "slipway.deployment.cmd.create", {**GOOD, "replicas": replicas})
    scaled = await ask(broker, "slipway.deployment.cmd.scale", {"id": "d1", "replicas": replicas})
    for reply in (created, scaled):
        assert reply["ok"] is False
        assert reply["error"]["code"] == "invalid"
        assert [d["field"] for d in reply["error"]["details"]] == ["replicas"]
    assert workloads.received == []


async def test_a_deployment_needs_an_image_and_a_service_a_port_in_range(bus):
    broker, _, _ = bus
    no_image = {k: v for k, v in GOOD.items() if k != "image"}
    reply = await ask(broker, "slipway.deployment.cmd.create", no_image)
    assert reply["error"]["code"] == "invalid"
    assert "image_id' or 'image" in reply["error"]["message"]
    service = {"name": "web", "deployment_id": "d1", "port": 70000, "target_port": 8080}
    reply = await ask(broker, "slipway.service.cmd.create", service)
    assert [d["field"] for d in reply["error"]["details"]] == ["port"]


async def test_a_conflict_keeps_its_code_and_the_current_status(bus):
    broker, _, _ = bus
    reply = await ask(broker, "slipway.deployment.cmd.scale", {"id": "d1", "replicas": 5})
    assert reply["error"]["code"] == "conflict"
    assert reply["error"]["details"]["current_status"] == "stopped"


async def test_cluster_events_reach_the_projection_consumer(bus):
    broker, _, reconciler = bus
    envelope = cluster_event("running", 2)
    await broker.publish(
        envelope, "slipway.events.minikube_cluster.running", stream="SLIPWAY_EVENTS"
    )
    assert reconciler.projected == [envelope]
