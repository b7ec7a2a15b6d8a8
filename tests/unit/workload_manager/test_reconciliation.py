"""The reconcile loop and the deadline sweep (service_layer/reconciliation.py, sweeps.py):
live status, drift, leftovers of deleted workloads, overdue work."""

from __future__ import annotations

from datetime import timedelta

from slipway_contracts.commands import DeleteDeployment, RepairDeployment
from slipway_libs.aggregate import utcnow
from slipway_workload_manager.domain.ports import LABEL_ID, RolloutObservation
from slipway_workload_manager.service_layer import deployments, reconciliation, sweeps
from tests.unit.workload_manager.fakes import (
    announce,
    cluster_event,
    create_deployment,
    create_service,
    image_event,
    ready,
    running_deployment,
    state_of,
)


async def test_a_deployment_deleted_behind_slipways_back_is_drift_and_repair_restores_it(world):
    created = await running_deployment(world)
    del world.cluster.objects[("Deployment", "default", "web")]
    await reconciliation.reconcile(world.deps)
    state = state_of(world, created["id"])
    note = "Deployment default/web was deleted outside Slipway"
    assert (state.status, state.drift, state.reason) == ("failed", note, note)
    await deployments.repair_deployment(world.deps, RepairDeployment(id=created["id"]))
    await world.run_jobs()
    state = state_of(world, created["id"])
    assert (state.status, state.drift) == ("running", None)
    assert ("Deployment", "default", "web") in world.cluster.objects


async def test_replicas_changed_behind_slipways_back_are_drift_reported_once(world):
    created = await running_deployment(world)
    world.cluster.objects[("Deployment", "default", "web")]["spec"]["replicas"] = 1
    await reconciliation.reconcile(world.deps)
    state = state_of(world, created["id"])
    assert state.drift == "Deployment default/web was changed outside Slipway: replicas 3 -> 1"
    assert state.status == "running"
    commits = world.uow.commits
    await reconciliation.reconcile(world.deps)  # nothing new: no write
    assert world.uow.commits == commits
    assert state_of(world, created["id"]).revision == state.revision


async def test_a_running_deployment_whose_rollout_breaks_in_the_cluster_fails(world):
    created = await running_deployment(world)
    world.cluster.rollouts["web"] = RolloutObservation(
        phase="failed", desired=3, available=1, reason="ProgressDeadlineExceeded: CrashLoop"
    )
    await reconciliation.reconcile(world.deps)
    state = state_of(world, created["id"])
    assert (state.status, state.reason) == ("failed", "ProgressDeadlineExceeded: CrashLoop")


async def test_a_service_whose_port_changed_behind_slipways_back_is_drift(world):
    deployment = await running_deployment(world)
    service = await create_service(world, deployment["id"])
    await world.run_jobs()
    world.cluster.objects[("Service", "default", "web")]["spec"]["ports"][0]["port"] = 81
    await reconciliation.reconcile(world.deps)
    state = state_of(world, service["id"])
    assert state.drift == "Service default/web was changed outside Slipway: port 80 -> 81"


async def test_a_load_balancer_becomes_active_once_the_tunnel_gives_it_an_address(world):
    deployment = await running_deployment(world)
    service = await create_service(world, deployment["id"], type="LoadBalancer")
    await world.run_jobs()
    assert state_of(world, service["id"]).status == "pending"
    world.cluster.load_balancer_ingress = True
    await reconciliation.reconcile(world.deps)
    state = state_of(world, service["id"])
    assert (state.status, state.ingress) == ("active", ["127.0.0.1"])


async def test_a_service_not_applied_yet_is_not_drift(world):
    deployment = await running_deployment(world)
    service = await create_service(world, deployment["id"])
    await reconciliation.reconcile(world.deps)
    state = state_of(world, service["id"])
    assert (state.status, state.drift, state.revision) == ("pending", None, 1)


async def test_the_objects_of_deleted_workloads_are_removed_when_the_cluster_runs_again(world):
    created = await running_deployment(world)
    await announce(world, cluster_event("stopped", 3))
    await deployments.delete_deployment(world.deps, DeleteDeployment(id=created["id"]))
    objects = {("Deployment", "default", "web"), ("NetworkPolicy", "default", "web")}
    objects.add(("ServiceAccount", "default", "web-sa"))
    assert set(world.cluster.objects) == objects
    await reconciliation.reconcile(world.deps)  # the cluster is still stopped
    assert set(world.cluster.objects) == objects
    await announce(world, cluster_event("running", 4))
    await reconciliation.reconcile(world.deps)
    assert world.cluster.objects == {}


async def test_a_leftover_policy_goes_but_a_new_deployment_of_the_name_keeps_its_own(world):
    created = await running_deployment(world)
    await announce(world, cluster_event("stopped", 3))
    await deployments.delete_deployment(world.deps, DeleteDeployment(id=created["id"]))
    # Its Deployment was removed by hand; its NetworkPolicy and ServiceAccount were not.
    del world.cluster.objects[("Deployment", "default", "web")]
    await announce(world, cluster_event("running", 4))
    await reconciliation.reconcile(world.deps)
    assert world.cluster.objects == {}
    again = await create_deployment(world)
    await world.run_jobs()
    await reconciliation.reconcile(world.deps)
    policy = world.cluster.objects[("NetworkPolicy", "default", "web")]
    assert policy["metadata"]["labels"][LABEL_ID] == again["id"]
    assert ("ServiceAccount", "default", "web-sa") in world.cluster.objects


async def test_an_unreachable_cluster_is_asked_for_its_kubeconfig_again_next_round(world):
    created = await running_deployment(world)
    asked = world.manager.kubeconfig_asks
    world.cluster.unreachable = True
    await reconciliation.reconcile(world.deps)  # logged, not raised
    world.cluster.unreachable = False
    await reconciliation.reconcile(world.deps)
    assert world.manager.kubeconfig_asks == asked + 1
    assert state_of(world, created["id"]).status == "running"


async def test_the_reconcile_loop_runs_the_cluster_reactions_as_a_safety_net(world):
    created = await running_deployment(world)
    world.projections.rows[("minikube_cluster", "cl-1")]["status"] = "stopped"  # event missed
    await reconciliation.reconcile(world.deps)
    assert state_of(world, created["id"]).reason == "cluster 'local' is stopped"


# --- the deadline sweep -------------------------------------------------------------------


async def test_a_rollout_past_its_deadline_fails_and_one_within_it_not(world):
    await ready(world)
    late = await create_deployment(world)
    on_time = await create_deployment(world, name="api")
    deadline = utcnow() - timedelta(seconds=1)
    world.deployments.rows[late["id"]] = state_of(world, late["id"]).model_copy(
        update={"deadline": deadline}
    )
    assert await sweeps.sweep_deadlines(world.deps) == 1
    state = state_of(world, late["id"])
    assert (state.status, state.reason) == (
        "failed",
        f"rollout did not finish by its deadline ({deadline.isoformat()})",
    )
    assert state_of(world, on_time["id"]).status == "pending"
    assert await sweeps.sweep_deadlines(world.deps) == 0


async def test_a_service_still_pending_past_its_deadline_fails(world):
    deployment = await running_deployment(world)
    service = await create_service(world, deployment["id"])
    deadline = utcnow() - timedelta(seconds=1)
    world.kube_services.rows[service["id"]] = state_of(world, service["id"]).model_copy(
        update={"deadline": deadline}
    )
    assert await sweeps.sweep_deadlines(world.deps) == 1
    assert state_of(world, service["id"]).reason == (
        f"not active by its deadline ({deadline.isoformat()}): no ready endpoints"
    )


async def test_a_pushed_image_running_by_its_registry_reference_is_not_drift(world):
    pushed = {"repository": "127.0.0.1:5000/shop/web", "digest": "sha256:pushed"}
    await announce(world, cluster_event("running", 1), image_event("built", 2, **pushed))
    created = await create_deployment(world)
    await world.run_jobs()
    commits = world.uow.commits
    await reconciliation.reconcile(world.deps)
    state = state_of(world, created["id"])
    assert (state.status, state.drift) == ("running", None)
    assert world.uow.commits == commits
    live = world.cluster.objects[("Deployment", "default", "web")]["spec"]["template"]["spec"]
    live["containers"][0]["image"] = "127.0.0.1:5000/shop/web@sha256:other"
    await reconciliation.reconcile(world.deps)
    assert state_of(world, created["id"]).drift == (
        "Deployment default/web was changed outside Slipway: "
        "image shop/web:1.0.0 -> 127.0.0.1:5000/shop/web@sha256:other"
    )
