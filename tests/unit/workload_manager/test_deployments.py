"""Deployment use cases (service_layer/deployments.py) on in-memory records: the rules,
the events and rollouts each command commits, idempotent replays, deletion."""

from __future__ import annotations

from typing import Any

import pytest

from slipway_contracts import subjects
from slipway_contracts.commands import (
    DeleteDeployment,
    RepairDeployment,
    ScaleDeployment,
    UpdateDeployment,
)
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs import context
from slipway_libs.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from slipway_workload_manager.service_layer import deployments, usage
from tests.unit.workload_manager.fakes import (
    CLUSTER,
    IMAGE,
    SPEC,
    announce,
    cluster_event,
    create_deployment,
    create_service,
    event,
    image_event,
    new_world,
    ready,
    running_deployment,
    state_of,
)

CREATED = subjects.event(subjects.DEPLOYMENT, "created")
UPDATING = subjects.event(subjects.DEPLOYMENT, "updating")
ROLLOUT = subjects.job(subjects.DEPLOYMENT, "rollout")


def update(deployment_id: str, **changes: Any) -> UpdateDeployment:
    return UpdateDeployment.model_validate({**SPEC, **changes, "id": deployment_id})


# --- create --------------------------------------------------------------------------


async def test_a_new_deployment_is_pending_with_its_rollout_queued_in_the_same_commit(world):
    await ready(world)
    created = await create_deployment(world)
    assert (created["status"], created["image_id"], created["revision"]) == ("pending", IMAGE.id, 1)
    assert world.uow.event_types() == [CREATED]
    assert world.uow.events[0].payload["data"]["id"] == created["id"]
    [job] = world.uow.jobs
    assert (job.subject, job.msg_id) == (ROLLOUT, created["rollout_id"])
    assert job.payload == {"deployment_id": created["id"], "rollout_id": created["rollout_id"]}
    assert state_of(world, created["id"]).deadline is not None


async def test_a_repeated_command_id_gets_the_first_reply_and_makes_one_deployment(world):
    await ready(world)
    context.bind("corr", "command-1")
    try:
        first = await create_deployment(world)
        again = await create_deployment(world)
        with pytest.raises(Exception, match="different request body"):
            await create_deployment(world, replicas=5)
    finally:
        context.bind(None, None)
    assert again == first
    assert len(world.deployments.rows) == 1 and len(world.uow.jobs) == 1


async def test_an_image_that_is_not_built_is_refused_with_the_field_or_the_status(world):
    await ready(world)
    with pytest.raises(InvalidInput) as nosuch:
        await create_deployment(world, image="nosuch/image:1.0")
    assert nosuch.value.details == [
        {"field": "image", "message": "'nosuch/image:1.0' is not a built ContainerImage"}
    ]
    await announce(world, image_event("building", 3))
    with pytest.raises(Conflict) as building:
        await create_deployment(world)
    assert building.value.details["current_status"] == "building"
    assert "is building (current status: building)" in building.value.message
    assert world.deployments.rows == {} and world.uow.jobs == []


async def test_the_cluster_must_run_and_every_invalid_field_is_named_at_once(world):
    await ready(world)
    with pytest.raises(InvalidInput) as both:
        await create_deployment(world, image="nosuch/image:1.0", cluster_id="nope")
    assert {d["field"] for d in both.value.details} == {"image", "cluster_id"}
    await announce(world, cluster_event("stopped", 2))
    with pytest.raises(Conflict) as stopped:
        await create_deployment(world)
    assert "cluster 'local' is stopped (current status: stopped)" in stopped.value.message


async def test_a_chart_must_be_valid(world):
    await ready(world)
    await announce(world, event("helm_chart", "invalid", "ch-1", 2, name="web", status="invalid"))
    with pytest.raises(Conflict) as invalid:
        await create_deployment(world, chart_id="ch-1")
    assert invalid.value.details == {"field": "chart_id", "current_status": "invalid"}
    with pytest.raises(InvalidInput) as unknown:
        await create_deployment(world, chart_id="ch-9")
    assert unknown.value.details[0]["field"] == "chart_id"


async def test_a_deploy_right_after_the_cluster_started_is_accepted_from_its_owners_answer(world):
    # The projection still says stopped; the cluster-manager already answers running.
    await announce(world, cluster_event("stopped", 1), image_event("built", 2))
    running = cluster_event("running", 2)
    world.projections.owners[("minikube_cluster", CLUSTER.id)] = running["data"]
    assert (await create_deployment(world))["status"] == "pending"
    assert (await world.projections.cluster(CLUSTER.id)).status == "running"


async def test_an_older_answer_of_the_owner_does_not_undo_a_newer_event(world):
    await announce(world, cluster_event("stopped", 3), image_event("built", 2))
    world.projections.owners[("minikube_cluster", CLUSTER.id)] = cluster_event("running", 2)["data"]
    with pytest.raises(Conflict) as refused:
        await create_deployment(world)
    assert "is stopped" in refused.value.message


async def test_a_refusal_nobody_can_correct_does_not_ask_twice(world):
    await ready(world)
    with pytest.raises(InvalidInput):
        await create_deployment(world, image="nosuch/image:1.0")
    assert world.projections.caught_up == [("container_image", [])]


async def test_a_name_is_taken_once_per_namespace_and_cluster(world):
    await ready(world)
    await create_deployment(world)
    with pytest.raises(Conflict) as taken:
        await create_deployment(world)
    assert taken.value.message == (
        "a deployment named 'web' already exists in namespace 'default' of this cluster"
    )
    await create_deployment(world, namespace="other")
    assert len(world.deployments.rows) == 2


# --- update and scale ------------------------------------------------------------------


async def test_a_put_cannot_rename_the_deployment(world):
    created = await running_deployment(world)
    with pytest.raises(InvalidInput) as renamed:
        await deployments.update_deployment(world.deps, update(created["id"], name="api"))
    assert renamed.value.details[0]["field"] == "name"


async def test_a_put_rolls_a_running_deployment_out_again_and_an_unchanged_one_not(world):
    created = await running_deployment(world)
    before = len(world.uow.events)
    same = await deployments.update_deployment(world.deps, update(created["id"]))
    assert same["data"]["status"] == "running" and len(world.uow.events) == before
    changed = await deployments.update_deployment(world.deps, update(created["id"], replicas=4))
    assert (changed["data"]["status"], changed["data"]["replicas"]) == ("updating", 4)
    assert world.uow.event_types()[-1] == UPDATING
    assert world.uow.jobs[-1].msg_id == changed["data"]["rollout_id"] != created["rollout_id"]


ANTI_AFFINITY = {"pod_anti_affinity": [{"topology_key": "kubernetes.io/hostname"}]}


async def test_a_put_that_changes_the_placement_rolls_out_and_its_events_carry_it(world):
    created = await running_deployment(world)
    assert created["placement"]["topology_spread"][0]["topology_key"] == "kubernetes.io/hostname"
    placed = await deployments.update_deployment(
        world.deps, update(created["id"], placement=ANTI_AFFINITY)
    )
    assert placed["data"]["status"] == "updating"
    assert (world.uow.jobs[-1].subject, world.uow.jobs[-1].msg_id) == (
        ROLLOUT,
        placed["data"]["rollout_id"],
    )
    [anti] = world.uow.events[-1].payload["data"]["placement"]["pod_anti_affinity"]
    assert (anti["topology_key"], anti["required"], anti["weight"]) == (
        "kubernetes.io/hostname",
        False,
        100,
    )
    await world.run_jobs()
    before = len(world.uow.events)
    again = await deployments.update_deployment(
        world.deps, update(created["id"], placement=ANTI_AFFINITY)
    )
    assert again["data"]["status"] == "running" and len(world.uow.events) == before


async def test_a_stale_if_match_is_refused(world):
    created = await running_deployment(world)
    current = state_of(world, created["id"]).revision
    with pytest.raises(PreconditionFailed):
        await deployments.update_deployment(
            world.deps, update(created["id"], replicas=4, expected_revision=current - 1)
        )
    with pytest.raises(PreconditionFailed):
        await deployments.scale_deployment(
            world.deps, ScaleDeployment(id=created["id"], replicas=4, expected_revision=1)
        )
    assert state_of(world, created["id"]).revision == current


async def test_moving_the_container_port_away_from_its_services_is_refused(world):
    created = await running_deployment(world)
    await create_service(world, created["id"])
    with pytest.raises(InvalidInput) as moved:
        await deployments.update_deployment(world.deps, update(created["id"], container_port=9090))
    assert moved.value.details[0]["field"] == "container_port"
    assert "services web target port 8080" in moved.value.message


async def test_scaling_a_running_deployment_goes_through_updating(world):
    created = await running_deployment(world)
    reply = await deployments.scale_deployment(
        world.deps, ScaleDeployment(id=created["id"], replicas=5)
    )
    assert reply["data"]["status"] == "updating"
    await world.run_jobs()
    state = state_of(world, created["id"])
    assert (state.status, state.available_replicas) == ("running", 5)
    again = await deployments.scale_deployment(
        world.deps, ScaleDeployment(id=created["id"], replicas=5)
    )
    assert again["data"]["revision"] == state.revision  # nothing to do: no new revision


async def test_a_stopped_cluster_refuses_scaling_naming_its_status(world):
    created = await running_deployment(world)
    await announce(world, cluster_event("stopped", 3))
    with pytest.raises(Conflict) as stopped:
        await deployments.scale_deployment(
            world.deps, ScaleDeployment(id=created["id"], replicas=5)
        )
    assert stopped.value.details["current_status"] == "stopped"


async def test_an_unknown_deployment_is_not_found(world):
    with pytest.raises(NotFound):
        await deployments.scale_deployment(world.deps, ScaleDeployment(id="nosuch", replicas=2))
    with pytest.raises(NotFound):
        await deployments.get_deployment(world.deps, GetEntity(id="nosuch"))


# --- repair ----------------------------------------------------------------------------


async def test_repair_rolls_the_deployment_and_its_broken_services_out_again(world):
    created = await running_deployment(world)
    healthy = await create_service(world, created["id"], name="healthy")
    broken = await create_service(world, created["id"], name="broken")
    await world.run_jobs()
    del world.cluster.objects[("Service", "default", "broken")]
    world.kube_services.rows[broken["id"]] = state_of(world, broken["id"]).model_copy(
        update={"drift": "Service default/broken was deleted outside Slipway"}
    )
    reply = await deployments.repair_deployment(world.deps, RepairDeployment(id=created["id"]))
    assert reply["data"]["status"] == "updating"
    assert [j.subject for j in world.queued()] == [
        ROLLOUT,
        subjects.job(subjects.SERVICE, "apply"),
    ]
    assert world.queued()[1].payload["service_id"] == broken["id"]
    await world.run_jobs()
    assert state_of(world, broken["id"]).drift is None
    assert state_of(world, healthy["id"]).revision == 2  # pending, then active: untouched
    assert ("Service", "default", "broken") in world.cluster.objects


# --- delete ----------------------------------------------------------------------------


async def test_a_deployment_in_use_by_a_service_is_not_deleted(world):
    created = await running_deployment(world)
    await create_service(world, created["id"])
    with pytest.raises(Conflict) as in_use:
        await deployments.delete_deployment(world.deps, DeleteDeployment(id=created["id"]))
    assert in_use.value.details == {"services": ["web"]}
    assert created["id"] in world.deployments.rows


async def test_a_delete_removes_the_objects_then_the_record(world):
    created = await running_deployment(world)
    assert set(world.cluster.objects) == {
        ("ServiceAccount", "default", "web-sa"),
        ("NetworkPolicy", "default", "web"),
        ("Deployment", "default", "web"),
    }
    reply = await deployments.delete_deployment(world.deps, DeleteDeployment(id=created["id"]))
    assert reply["ok"] and reply["data"]["reason"] is None
    assert world.cluster.objects == {}
    assert created["id"] not in world.deployments.rows
    assert world.uow.event_types()[-1] == subjects.event(subjects.DEPLOYMENT, "deleted")
    with pytest.raises(NotFound):
        await deployments.delete_deployment(world.deps, DeleteDeployment(id=created["id"]))


async def test_deleting_on_a_stopped_cluster_says_so_and_keeps_a_leftover(world):
    created = await running_deployment(world)
    await announce(world, cluster_event("stopped", 3))
    reply = await deployments.delete_deployment(world.deps, DeleteDeployment(id=created["id"]))
    assert reply["data"]["reason"] == (
        "removed from Slipway; cluster 'local' is stopped: its Deployment default/web is "
        "removed when it runs again"
    )
    assert created["id"] not in world.deployments.rows
    assert world.leftovers.rows[created["id"]].kind == "Deployment"
    assert ("Deployment", "default", "web") in world.cluster.objects


async def test_a_cluster_that_does_not_answer_does_not_hold_a_delete():
    world = new_world(delete_timeout_s=0.05)
    created = await running_deployment(world)
    world.cluster.hang_deletes = True
    reply = await deployments.delete_deployment(world.deps, DeleteDeployment(id=created["id"]))
    assert reply["data"]["reason"] == (
        "removed from Slipway; cluster 'local' could not remove its Deployment default/web now "
        "(no answer within 0.05 s): it is retried while the cluster runs"
    )
    assert created["id"] not in world.deployments.rows


async def test_a_delete_with_a_stale_if_match_changes_nothing(world):
    created = await running_deployment(world)
    with pytest.raises(PreconditionFailed):
        await deployments.delete_deployment(
            world.deps, DeleteDeployment(id=created["id"], expected_revision=1)
        )
    assert created["id"] in world.deployments.rows and world.cluster.objects


# --- queries ---------------------------------------------------------------------------


async def test_the_queries_answer_snapshots_and_pages_by_status(world):
    await ready(world)
    first = await create_deployment(world)
    await world.run_jobs()
    second = await create_deployment(world, name="api")
    got = await deployments.get_deployment(world.deps, GetEntity(id=second["id"]))
    assert got == {"ok": True, "data": second}
    page = await deployments.list_deployments(world.deps, ListEntities(status="running"))
    assert [d["id"] for d in page["data"]["items"]] == [first["id"]]
    paged = await deployments.list_deployments(world.deps, ListEntities(limit=1))
    assert paged["data"]["next_cursor"] is not None


def scanned_event(version: int) -> dict[str, Any]:
    """The image-builder's `scanned` event of IMAGE (still built) with SECRET_SCAN."""
    fields = {"name": IMAGE.name, "tag": IMAGE.tag, "status": "built", "scan": SECRET_SCAN}
    return event("container_image", "scanned", IMAGE.id, version, **fields)


SECRET_SCAN = {
    "status": "complete",
    "findings": [
        {"kind": "secret", "severity": "CRITICAL", "rule": "github-pat", "file": "/app/app.env"},
        {"kind": "misconfig", "severity": "LOW", "rule": "DS-0026", "file": "Dockerfile"},
    ],
}


async def test_under_enforce_an_image_with_critical_findings_is_a_409_naming_them():
    world = new_world(image_policy="enforce")
    await announce(world, cluster_event("running", 1), image_event("built", 2))
    await announce(world, scanned_event(3))
    with pytest.raises(Conflict) as refused:
        await create_deployment(world)
    assert "unresolved critical findings" in refused.value.message
    assert "secret github-pat in /app/app.env" in refused.value.message
    assert "DS-0026" not in refused.value.message
    assert refused.value.details["critical_findings"] == ["secret github-pat in /app/app.env"]
    assert world.deployments.rows == {}


async def test_under_warn_the_same_image_deploys(world):
    await announce(world, cluster_event("running", 1), image_event("built", 2))
    await announce(world, scanned_event(3))
    assert (await create_deployment(world))["status"] == "pending"


def pod_metrics(name: str, cpu: str, memory: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "containers": [{"usage": {"cpu": cpu, "memory": memory}}]}


async def test_a_running_deployment_shows_what_its_pods_use_and_a_pending_one_nothing(world):
    await ready(world)
    running = await create_deployment(world)
    await world.run_jobs()
    pending = await create_deployment(world, name="api")
    world.cluster.pod_usage = {
        ("default", running["id"]): [
            pod_metrics("web-b", "12500000n", "20480Ki"),
            pod_metrics("web-a", "0.0075", "10Mi"),
        ]
    }

    got = (await deployments.get_deployment(world.deps, GetEntity(id=running["id"])))["data"]
    usage = got["usage"]
    assert (usage["cpu"], usage["memory"]) == ("20m", "30Mi")
    assert [(p["name"], p["cpu"], p["memory"]) for p in usage["pods"]] == [
        ("web-a", "8m", "10Mi"),
        ("web-b", "12m", "20Mi"),
    ]
    assert got["revision"] == running["revision"] + 1  # the rollout's; usage writes nothing
    idle = (await deployments.get_deployment(world.deps, GetEntity(id=pending["id"])))["data"]
    assert idle["usage"] is None


async def test_the_usage_metrics_read_a_namespace_once_for_all_its_running_deployments(world):
    await ready(world)
    web = await create_deployment(world)
    api = await create_deployment(world, name="api")
    await world.run_jobs()
    await create_deployment(world, name="queued")  # pending: no usage recorded
    world.cluster.pod_usage = {
        ("default", web["id"]): [pod_metrics("web-a", "0.01", "10Mi")],
        ("default", api["id"]): [pod_metrics("api-a", "0.02", "20Mi")],
    }
    asked: list[str] = []
    read = world.cluster.namespace_pod_metrics

    async def counted(access: Any, namespace: str) -> Any:
        asked.append(namespace)
        return await read(access, namespace)

    world.cluster.namespace_pod_metrics = counted
    recorded: dict[str, Any] = {}
    await usage.record_usage(
        world.deps, lambda d, u: recorded.update({d["name"]: u and (u.cpu, u.memory)})
    )
    assert asked == ["default"]
    assert recorded == {"web": ("10m", "10Mi"), "api": ("20m", "20Mi")}


async def test_without_a_metrics_api_or_with_the_cluster_down_the_deployment_has_no_usage(world):
    await ready(world)
    running = await create_deployment(world)
    await world.run_jobs()
    got = (await deployments.get_deployment(world.deps, GetEntity(id=running["id"])))["data"]
    assert got["status"] == "running" and got["usage"] is None
    world.cluster.pod_usage = {}
    world.cluster.unreachable = True
    got = (await deployments.get_deployment(world.deps, GetEntity(id=running["id"])))["data"]
    assert got["usage"] is None
