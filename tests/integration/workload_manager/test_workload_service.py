"""The workload-manager's use cases on real MongoDB, against a fake cluster and a fake
cluster-manager: rules, rollouts, reactions to clusters and images, drift, deletion."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from slipway_contracts import subjects
from slipway_contracts.commands import (
    CreateDeployment,
    CreateService,
    DeleteDeployment,
    DeleteService,
    RepairDeployment,
    ScaleDeployment,
    UpdateDeployment,
)
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import Conflict, InvalidInput
from slipway_workload_manager.domain.cluster_manager import ClusterManagerRefused
from slipway_workload_manager.domain.ports import RolloutObservation
from slipway_workload_manager.service_layer import (
    deployments,
    kube_services,
    reconciliation,
    sweeps,
)
from tests.integration.workload_manager.workloads import (
    FakeWorld,
    JobRunner,
    seed,
)
from tests.unit.workload_manager.fakes import (
    CLUSTER,
    IMAGE,
    SPEC,
    cluster_event,
    event,
    image_event,
)

# The shared fixtures (world, sim_cluster) live in a module of their own.
pytest_plugins = ["tests.integration.workload_manager.fixtures"]


async def ready(world: FakeWorld) -> JobRunner:
    """A running cluster and a built image, as their owners announced them."""
    await seed(world.parts, cluster_event("running", 1), image_event("built", 2))
    return JobRunner(world.parts)


async def create(world: FakeWorld, **overrides: Any) -> dict[str, Any]:
    reply = await deployments.create_deployment(
        world.parts.deps, CreateDeployment.model_validate({**SPEC, **overrides})
    )
    assert reply["ok"], reply
    return reply["data"]


async def status_of(world: FakeWorld, deployment_id: str) -> tuple[str, str | None]:
    state = (await world.parts.deployments.get(deployment_id)).state
    return str(state.status), state.reason


# --- rules ---------------------------------------------------------------------------


def owners(*envelopes: dict[str, Any]):
    """The owning services' `query.get` answers: each entity as its latest event carries it."""
    current = {(e["type"].split(".")[2], e["subject"]): e for e in envelopes}

    async def lookup(entity: str, entity_id: str) -> dict[str, Any] | None:
        envelope = current.get((entity, entity_id))
        if envelope is None:
            return None
        return {**envelope["data"], "id": entity_id, "revision": envelope["entityversion"]}

    return lookup


async def test_a_deploy_right_after_the_cluster_started_is_not_refused_while_its_event_is_on_the_way(
    world,
):
    # The projection still says stopped; the cluster-manager already answers running.
    await seed(world.parts, cluster_event("stopped", 1), image_event("built", 2))
    world.parts.projections.lookup = owners(cluster_event("running", 2))
    deployment = await create(world)
    assert deployment["status"] == "pending"
    cluster = await world.parts.projections.cluster(CLUSTER.id)
    assert cluster is not None and cluster.status == "running"


async def test_a_deploy_is_accepted_when_the_event_lands_while_the_owner_is_asked(world):
    # The first check reads `stopped`; the `running` event is applied by the consumer
    # while the owner is being asked, so the owner's answer is no longer newer.
    await seed(world.parts, cluster_event("stopped", 1), image_event("built", 2))
    running = cluster_event("running", 2)
    answer = owners(running)

    async def racing_lookup(entity: str, entity_id: str) -> dict[str, Any] | None:
        await seed(world.parts, running)
        return await answer(entity, entity_id)

    world.parts.projections.lookup = racing_lookup
    assert (await create(world))["status"] == "pending"


async def test_an_older_answer_of_the_owner_does_not_undo_a_newer_event(world):
    await seed(world.parts, cluster_event("stopped", 3), image_event("built", 2))
    world.parts.projections.lookup = owners(cluster_event("running", 2))
    with pytest.raises(Conflict) as refused:
        await create(world)
    assert "is stopped" in refused.value.message


async def test_an_image_that_is_not_built_is_refused_with_the_field_or_the_status(world):
    await ready(world)
    with pytest.raises(InvalidInput) as nosuch:
        await create(world, image="nosuch/image:1.0")
    assert nosuch.value.details == [
        {"field": "image", "message": "'nosuch/image:1.0' is not a built ContainerImage"}
    ]
    await seed(world.parts, image_event("building", 3))
    with pytest.raises(Conflict) as building:
        await create(world)
    assert building.value.details["current_status"] == "building"
    assert "is building (current status: building)" in building.value.message


async def test_the_cluster_must_run_and_every_invalid_field_is_named_at_once(world):
    await ready(world)
    with pytest.raises(InvalidInput) as both:
        await create(world, image="nosuch/image:1.0", cluster_id="nope")
    assert {d["field"] for d in both.value.details} == {"image", "cluster_id"}
    await seed(world.parts, cluster_event("stopped", 2))
    with pytest.raises(Conflict) as stopped:
        await create(world)
    assert "cluster 'local' is stopped (current status: stopped)" in stopped.value.message


async def test_a_chart_must_be_valid(world):
    await ready(world)
    chart = event("helm_chart", "invalid", "ch-1", 2, name="web", status="invalid")
    await seed(world.parts, chart)
    with pytest.raises(Conflict) as invalid:
        await create(world, chart_id="ch-1")
    assert invalid.value.details == {"field": "chart_id", "current_status": "invalid"}
    with pytest.raises(InvalidInput) as unknown:
        await create(world, chart_id="ch-9")
    assert unknown.value.details[0]["field"] == "chart_id"


async def test_a_name_is_taken_once_per_namespace_and_cluster(world):
    await ready(world)
    await create(world)
    with pytest.raises(Conflict) as taken:
        await create(world)
    assert taken.value.message == (
        "a deployment named 'web' already exists in namespace 'default' of this cluster"
    )
    await create(world, namespace="other")


async def test_a_service_name_is_refused_by_the_unique_index_with_the_same_conflict(world):
    await ready(world)
    created = await create(world)
    command = CreateService(name="web", deployment_id=created["id"], port=80, target_port=8080)
    await kube_services.create_service(world.parts.deps, command)
    with pytest.raises(Conflict) as taken:
        await kube_services.create_service(world.parts.deps, command)
    assert taken.value.message == (
        "a service named 'web' already exists in namespace 'default' of this cluster"
    )
    items, _ = await world.parts.kube_services.listing(status=None, cursor=None, limit=10)
    assert len(items) == 1


async def test_two_creates_of_one_name_at_once_make_one_deployment(world):
    await ready(world)
    outcomes = await asyncio.gather(
        *(
            deployments.create_deployment(world.parts.deps, CreateDeployment.model_validate(SPEC))
            for _ in range(2)
        ),
        return_exceptions=True,
    )
    [refused] = [o for o in outcomes if isinstance(o, Exception)]
    assert isinstance(refused, Conflict)
    assert refused.message == (
        "a deployment named 'web' already exists in namespace 'default' of this cluster"
    )
    items, _ = await world.parts.deployments.listing(status=None, cursor=None, limit=10)
    assert len(items) == 1


async def test_a_put_cannot_rename_the_deployment(world):
    await ready(world)
    created = await create(world)
    with pytest.raises(InvalidInput) as renamed:
        await deployments.update_deployment(
            world.parts.deps,
            UpdateDeployment.model_validate({**SPEC, "name": "api", "id": created["id"]}),
        )
    assert renamed.value.details[0]["field"] == "name"


# --- rollouts --------------------------------------------------------------------------


async def test_a_new_deployment_is_pending_with_its_rollout_queued_in_the_same_commit(world):
    await ready(world)
    created = await create(world)
    assert (created["status"], created["image_id"]) == ("pending", IMAGE.id)
    outbox = await world.parts.outbox()
    assert [subject for subject, _ in outbox] == [
        subjects.event(subjects.DEPLOYMENT, "created"),
        subjects.job(subjects.DEPLOYMENT, "rollout"),
    ]
    assert outbox[1][1]["rollout_id"] == created["rollout_id"]


async def test_a_rollout_hands_the_image_over_applies_and_runs(world):
    jobs = await ready(world)
    created = await create(world)
    [delivery] = await jobs.run()
    assert delivery.acked
    running = (await world.parts.deployments.get(created["id"])).state
    assert (running.status, running.available_replicas, running.deadline) == ("running", 3, None)
    assert world.manager.loads == [(CLUSTER.id, IMAGE.reference)]
    live = world.cluster.objects[("Deployment", "default", "web")]
    assert live["spec"]["replicas"] == 3
    events = [subject for subject, _ in await world.parts.outbox(subjects.EVENTS_STREAM)]
    assert events == [
        subjects.event(subjects.DEPLOYMENT, "created"),
        subjects.event(subjects.DEPLOYMENT, "running"),
    ]


async def test_many_rollouts_of_one_image_load_it_once(world):
    jobs = await ready(world)
    for index in range(8):
        await create(world, name=f"web-{index}")
    deliveries = await jobs.run()
    assert all(d.acked for d in deliveries) and len(deliveries) == 8
    assert world.manager.loads == [(CLUSTER.id, IMAGE.reference)]


async def test_an_image_the_cluster_cannot_get_fails_the_rollout_with_the_load_error(world):
    jobs = await ready(world)
    world.manager.load_error = "docker save shop/web:1.0.0: No such image"
    created = await create(world)
    [delivery] = await jobs.run()
    assert delivery.acked
    assert await status_of(world, created["id"]) == (
        "failed",
        "image load failed: docker save shop/web:1.0.0: No such image",
    )


async def test_a_cluster_that_cannot_take_images_is_left_to_pull_them_itself(world):
    jobs = await ready(world)
    world.manager.load_refusal = ClusterManagerRefused(
        "the kubeconfig driver cannot load images into an attached cluster",
        "conflict",
        {"driver_code": "UNSUPPORTED"},
    )
    created = await create(world)
    await jobs.run()
    assert await status_of(world, created["id"]) == ("running", None)


async def test_a_rollout_the_cluster_reports_failed_carries_the_clusters_reason(world):
    jobs = await ready(world)
    world.cluster.rollouts["web"] = RolloutObservation(
        phase="failed", desired=3, reason="ProgressDeadlineExceeded: ErrImagePull"
    )
    created = await create(world)
    await jobs.run()
    assert await status_of(world, created["id"]) == (
        "failed",
        "ProgressDeadlineExceeded: ErrImagePull",
    )


async def test_an_unreachable_cluster_is_retried_then_the_rollout_fails_with_why(world):
    jobs = await ready(world)
    world.cluster.unreachable = True
    created = await create(world)
    [job] = await jobs.pending()
    first = await jobs.run_one(job, attempt=1)
    assert first.nacked and not first.acked
    assert (await status_of(world, created["id"]))[0] == "pending"
    last = await jobs.run_one(job, attempt=world.parts.settings.job_max_deliver)
    assert last.acked
    status, reason = await status_of(world, created["id"])
    assert status == "failed"
    assert "could not reach cluster 'local'" in (reason or "")


async def test_a_job_for_a_rollout_replaced_since_is_acked_and_ignored(world):
    jobs = await ready(world)
    created = await create(world)
    [stale] = await jobs.pending()
    await deployments.scale_deployment(
        world.parts.deps, ScaleDeployment(id=created["id"], replicas=5)
    )
    delivery = await jobs.run_one(stale)
    assert delivery.acked
    assert world.cluster.objects == {}  # the stale rollout applied nothing
    await jobs.run()
    state = (await world.parts.deployments.get(created["id"])).state
    assert (state.status, state.replicas) == ("running", 5)


async def test_scaling_a_running_deployment_goes_through_updating(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    reply = await deployments.scale_deployment(
        world.parts.deps, ScaleDeployment(id=created["id"], replicas=5)
    )
    assert reply["data"]["status"] == "updating"
    await jobs.run()
    state = (await world.parts.deployments.get(created["id"])).state
    assert (state.status, state.available_replicas) == ("running", 5)
    again = await deployments.scale_deployment(
        world.parts.deps, ScaleDeployment(id=created["id"], replicas=5)
    )
    assert again["data"]["revision"] == state.revision  # nothing to do: no new revision


async def test_a_repeated_command_id_gets_the_first_reply_and_makes_one_deployment(world):
    await ready(world)
    context.bind("corr", "command-1")
    try:
        first = await deployments.create_deployment(world.parts.deps, CreateDeployment(**SPEC))
        second = await deployments.create_deployment(world.parts.deps, CreateDeployment(**SPEC))
    finally:
        context.bind(None, None)
    assert first == second
    items, _ = await world.parts.deployments.listing(status=None, cursor=None, limit=10)
    assert len(items) == 1


async def test_a_rollout_past_its_deadline_fails(world):
    await ready(world)
    created = await create(world, progress_deadline_seconds=10)
    past = utcnow() - timedelta(seconds=1)
    deadline = past.replace(microsecond=past.microsecond // 1000 * 1000)  # MongoDB keeps ms
    await world.parts.deployments.collection.update_one(
        {"_id": created["id"]}, {"$set": {"deadline": deadline}}
    )
    assert await sweeps.sweep_deadlines(world.parts.deps) == 1
    assert await status_of(world, created["id"]) == (
        "failed",
        f"rollout did not finish by its deadline ({deadline.isoformat()})",
    )


# --- reactions -------------------------------------------------------------------------


async def test_a_stopped_cluster_fails_its_workloads_and_its_return_rolls_them_out(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    service = await kube_services.create_service(
        world.parts.deps,
        CreateService(name="web", deployment_id=created["id"], port=80, target_port=8080),
    )
    await jobs.run()
    await seed(world.parts, cluster_event("stopped", 3))
    assert await status_of(world, created["id"]) == ("failed", "cluster 'local' is stopped")
    stopped = (await world.parts.kube_services.get(service["data"]["id"])).state
    assert (stopped.status, stopped.reason) == ("failed", "cluster 'local' is stopped")
    await seed(world.parts, cluster_event("running", 4))
    assert await status_of(world, created["id"]) == ("updating", None)
    await jobs.run()
    assert await status_of(world, created["id"]) == ("running", None)
    back = (await world.parts.kube_services.get(service["data"]["id"])).state
    assert back.status == "active"


async def test_a_cluster_in_error_gives_its_reason(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    await seed(world.parts, cluster_event("error", 3, reason="the API server stopped answering"))
    assert await status_of(world, created["id"]) == (
        "failed",
        "cluster 'local' is in error: the API server stopped answering",
    )


async def test_a_failed_image_is_reported_on_the_deployments_that_run_it(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    await seed(world.parts, image_event("failed", 3, reason="the image vanished from the engine"))
    assert await status_of(world, created["id"]) == (
        "running",
        "image shop/web:1.0.0 failed: the image vanished from the engine",
    )
    assert world.cluster.objects  # nothing was torn down


# --- drift and reconciliation -------------------------------------------------------------


async def test_a_deployment_deleted_behind_slipways_back_is_drift_and_repair_restores_it(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    del world.cluster.objects[("Deployment", "default", "web")]
    await reconciliation.reconcile(world.parts.deps)
    state = (await world.parts.deployments.get(created["id"])).state
    note = "Deployment default/web was deleted outside Slipway"
    assert (state.status, state.drift, state.reason) == ("failed", note, note)
    await deployments.repair_deployment(world.parts.deps, RepairDeployment(id=created["id"]))
    await jobs.run()
    state = (await world.parts.deployments.get(created["id"])).state
    assert (state.status, state.drift) == ("running", None)
    assert ("Deployment", "default", "web") in world.cluster.objects


async def test_replicas_changed_behind_slipways_back_are_reported_as_drift(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    world.cluster.objects[("Deployment", "default", "web")]["spec"]["replicas"] = 1
    await reconciliation.reconcile(world.parts.deps)
    state = (await world.parts.deployments.get(created["id"])).state
    assert state.drift == ("Deployment default/web was changed outside Slipway: replicas 3 -> 1")
    assert state.status == "running"
    before = state.revision
    await reconciliation.reconcile(world.parts.deps)  # nothing new: no write
    assert (await world.parts.deployments.get(created["id"])).state.revision == before


async def test_a_running_deployment_whose_rollout_breaks_in_the_cluster_fails(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    world.cluster.rollouts["web"] = RolloutObservation(
        phase="failed", desired=3, available=1, reason="ProgressDeadlineExceeded: CrashLoop"
    )
    await reconciliation.reconcile(world.parts.deps)
    assert await status_of(world, created["id"]) == (
        "failed",
        "ProgressDeadlineExceeded: CrashLoop",
    )


# --- services ----------------------------------------------------------------------------


async def test_a_service_must_target_the_container_port(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    with pytest.raises(InvalidInput) as wrong:
        await kube_services.create_service(
            world.parts.deps,
            CreateService(name="web", deployment_id=created["id"], port=80, target_port=9090),
        )
    assert wrong.value.details[0]["field"] == "target_port"


async def test_a_cluster_ip_service_becomes_active_with_endpoints(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    reply = await kube_services.create_service(
        world.parts.deps,
        CreateService(name="web", deployment_id=created["id"], port=80, target_port=8080),
    )
    assert reply["data"]["status"] == "pending"
    await jobs.run()
    service = (await world.parts.kube_services.get(reply["data"]["id"])).state
    assert service.status == "active"
    assert len(service.endpoints) == 3 and service.cluster_ip


async def test_a_load_balancer_without_a_tunnel_stays_pending_saying_so(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    reply = await kube_services.create_service(
        world.parts.deps,
        CreateService(
            name="web", deployment_id=created["id"], type="LoadBalancer", port=80, target_port=8080
        ),
    )
    await jobs.run()
    service = (await world.parts.kube_services.get(reply["data"]["id"])).state
    assert (service.status, service.deadline) == ("pending", None)
    assert "minikube tunnel" in (service.reason or "")
    world.cluster.load_balancer_ingress = True
    await reconciliation.reconcile(world.parts.deps)
    service = (await world.parts.kube_services.get(reply["data"]["id"])).state
    assert (service.status, service.ingress) == ("active", ["127.0.0.1"])


async def test_moving_the_container_port_away_from_its_services_is_refused(world):
    jobs = await ready(world)
    created = await create(world)
    await kube_services.create_service(
        world.parts.deps,
        CreateService(name="web", deployment_id=created["id"], port=80, target_port=8080),
    )
    await jobs.run()
    with pytest.raises(InvalidInput) as moved:
        await deployments.update_deployment(
            world.parts.deps,
            UpdateDeployment.model_validate({**SPEC, "container_port": 9090, "id": created["id"]}),
        )
    assert moved.value.details[0]["field"] == "container_port"
    assert "services web target port 8080" in moved.value.message


# --- deletion ------------------------------------------------------------------------------


async def test_a_deployment_in_use_by_a_service_is_not_deleted(world):
    jobs = await ready(world)
    created = await create(world)
    service = await kube_services.create_service(
        world.parts.deps,
        CreateService(name="web", deployment_id=created["id"], port=80, target_port=8080),
    )
    await jobs.run()
    with pytest.raises(Conflict) as in_use:
        await deployments.delete_deployment(world.parts.deps, DeleteDeployment(id=created["id"]))
    assert in_use.value.details == {"services": ["web"]}
    await kube_services.delete_service(world.parts.deps, DeleteService(id=service["data"]["id"]))
    reply = await deployments.delete_deployment(
        world.parts.deps, DeleteDeployment(id=created["id"])
    )
    assert reply["ok"] and reply["data"]["reason"] is None
    assert world.cluster.objects == {}
    assert await world.parts.deployments.find(created["id"]) is None


async def test_deleting_on_a_stopped_cluster_says_so_and_cleans_up_when_it_returns(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    await seed(world.parts, cluster_event("stopped", 3))
    reply = await deployments.delete_deployment(
        world.parts.deps, DeleteDeployment(id=created["id"])
    )
    assert reply["data"]["reason"] == (
        "removed from Slipway; cluster 'local' is stopped: its Deployment default/web is "
        "removed when it runs again"
    )
    assert await world.parts.deployments.find(created["id"]) is None
    assert ("Deployment", "default", "web") in world.cluster.objects
    await seed(world.parts, cluster_event("running", 4))
    await reconciliation.reconcile(world.parts.deps)
    assert world.cluster.objects == {}


async def test_a_cluster_that_does_not_answer_does_not_hold_a_delete(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    world.cluster.hang_deletes = True
    world.parts.settings.delete_timeout_s = 0.2
    reply = await deployments.delete_deployment(
        world.parts.deps, DeleteDeployment(id=created["id"])
    )
    assert reply["data"]["reason"] == (
        "removed from Slipway; cluster 'local' could not remove its Deployment default/web now "
        "(no answer within 0.2 s): it is retried while the cluster runs"
    )
    assert await world.parts.deployments.find(created["id"]) is None
    world.cluster.hang_deletes = False
    await reconciliation.reconcile(world.parts.deps)
    assert world.cluster.objects == {}


async def test_a_cluster_that_is_gone_for_good_fails_its_deployments(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    gone = event("minikube_cluster", "deleted", CLUSTER.id, 3, name="local", status="stopped")
    await seed(world.parts, gone)
    assert await status_of(world, created["id"]) == (
        "failed",
        f"cluster '{CLUSTER.id}' no longer exists",
    )


async def test_a_stopped_cluster_refuses_scaling_naming_its_status(world):
    jobs = await ready(world)
    created = await create(world)
    await jobs.run()
    await seed(world.parts, cluster_event("stopped", 3))
    with pytest.raises(Conflict) as stopped:
        await deployments.scale_deployment(
            world.parts.deps, ScaleDeployment(id=created["id"], replicas=5)
        )
    assert stopped.value.details["current_status"] == "stopped"
