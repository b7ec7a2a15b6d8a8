"""Kubernetes Service use cases (service_layer/kube_services.py) on in-memory records."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slipway_contracts import subjects
from slipway_contracts.commands import DeleteService, UpdateService
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs import context
from slipway_libs.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from slipway_workload_manager.service_layer import kube_services
from tests.unit.workload_manager.fakes import (
    CLUSTER,
    announce,
    cluster_event,
    create_deployment,
    create_service,
    running_deployment,
    state_of,
)

APPLY = subjects.job(subjects.SERVICE, "apply")


def update(service_id: str, deployment_id: str, **changes) -> UpdateService:
    fields = {"name": "web", "deployment_id": deployment_id, "port": 80, "target_port": 8080}
    return UpdateService.model_validate({**fields, **changes, "id": service_id})


async def test_a_new_service_is_pending_with_its_apply_queued_on_its_deployments_cluster(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    assert (created["status"], created["cluster_id"]) == ("pending", deployment["cluster_id"])
    assert world.uow.event_types()[-1] == subjects.event(subjects.SERVICE, "created")
    [job] = world.queued()
    assert (job.subject, job.payload) == (
        APPLY,
        {"service_id": created["id"], "apply_id": created["apply_id"]},
    )


async def test_a_repeated_command_id_gets_the_first_reply(world):
    deployment = await running_deployment(world)
    context.bind("corr", "command-2")
    try:
        first = await create_service(world, deployment["id"])
        again = await create_service(world, deployment["id"])
    finally:
        context.bind(None, None)
    assert again == first and len(world.kube_services.rows) == 1


async def test_a_service_must_select_an_existing_deployment_on_its_port_and_namespace(world):
    deployment = await running_deployment(world)
    with pytest.raises(InvalidInput) as port:
        await create_service(world, deployment["id"], target_port=9090)
    assert port.value.details[0]["field"] == "target_port"
    with pytest.raises(InvalidInput) as namespace:
        await create_service(world, deployment["id"], namespace="other")
    assert namespace.value.details[0]["field"] == "namespace"
    with pytest.raises(InvalidInput) as missing:
        await create_service(world, "nosuch")
    assert missing.value.details[0]["field"] == "deployment_id"
    assert world.kube_services.rows == {}


async def test_a_service_needs_its_cluster_running(world):
    deployment = await running_deployment(world)
    await announce(world, cluster_event("stopped", 3))
    with pytest.raises(Conflict) as stopped:
        await create_service(world, deployment["id"])
    assert stopped.value.details["current_status"] == "stopped"


async def test_a_name_is_taken_once_per_namespace_and_cluster(world):
    deployment = await running_deployment(world)
    await create_service(world, deployment["id"])
    with pytest.raises(Conflict) as taken:
        await create_service(world, deployment["id"], port=81)
    assert "a service named 'web' already exists" in taken.value.message


async def test_a_put_applies_a_changed_service_again_and_an_unchanged_one_not(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    await world.run_jobs()
    same = await kube_services.update_service(world.deps, update(created["id"], deployment["id"]))
    assert same["data"]["status"] == "active" and world.queued() == []
    changed = await kube_services.update_service(
        world.deps, update(created["id"], deployment["id"], port=81)
    )
    assert (changed["data"]["status"], changed["data"]["port"]) == ("pending", 81)
    assert world.queued()[0].msg_id == changed["data"]["apply_id"]
    await world.run_jobs()
    assert world.cluster.objects[("Service", "default", "web")]["spec"]["ports"][0]["port"] == 81


async def test_a_service_stays_on_its_cluster_and_keeps_its_name(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    other = replace(CLUSTER, id="cl-2", name="other")
    await announce(world, cluster_event("running", 1, cluster=other))
    elsewhere = await create_deployment(world, cluster_id="cl-2")
    with pytest.raises(InvalidInput) as moved:
        await kube_services.update_service(world.deps, update(created["id"], elsewhere["id"]))
    assert moved.value.details[0]["field"] == "deployment_id"
    with pytest.raises(InvalidInput) as renamed:
        await kube_services.update_service(
            world.deps, update(created["id"], deployment["id"], name="api")
        )
    assert renamed.value.details[0]["field"] == "name"
    with pytest.raises(PreconditionFailed):
        await kube_services.update_service(
            world.deps, update(created["id"], deployment["id"], port=81, expected_revision=9)
        )


async def test_a_delete_removes_the_object_then_the_record(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    await world.run_jobs()
    reply = await kube_services.delete_service(world.deps, DeleteService(id=created["id"]))
    assert reply["data"]["reason"] is None
    assert ("Service", "default", "web") not in world.cluster.objects
    assert created["id"] not in world.kube_services.rows
    assert world.leftovers.rows[created["id"]].kind == "Service"
    assert world.uow.event_types()[-1] == subjects.event(subjects.SERVICE, "deleted")
    with pytest.raises(NotFound):
        await kube_services.get_service(world.deps, GetEntity(id=created["id"]))


async def test_the_queries_answer_snapshots_and_pages(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    got = await kube_services.get_service(world.deps, GetEntity(id=created["id"]))
    assert got["data"] == created
    page = await kube_services.list_services(world.deps, ListEntities(status="pending"))
    assert [s["id"] for s in page["data"]["items"]] == [created["id"]]
    assert state_of(world, created["id"]).status == "pending"
