"""The release job (service_layer/release_operations.py, release_workloads.py) through its
handler against fake helm, cluster, cluster-manager and chart source: install, upgrade,
rollback and uninstall outcomes, the workloads recorded as entities, failures, retries, stale
jobs; and what the reactions, the reconcile loop and the deadline sweep do to releases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from slipway_contracts import subjects
from slipway_contracts.commands import RollbackRelease, UninstallRelease, UpgradeRelease
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import NotFound, Unavailable
from slipway_workload_manager.domain.ports import LABEL_ID, RolloutObservation
from slipway_workload_manager.service_layer import reconciliation, releases, sweeps
from tests.unit.workload_manager.fakes import (
    BACKEND,
    BACKEND_2,
    CHART,
    CLUSTER,
    FRONTEND,
    RELEASE_SPEC,
    announce,
    cluster_event,
    deployed_release,
    install,
    release_of,
    release_ready,
    workloads_of,
)

NEW_BACKEND = {"frontend.image": FRONTEND.id, "backend.image": BACKEND_2.id}


def event(entity: str, name: str) -> str:
    return subjects.event(entity, name)


async def upgrade(world, release_id: str, **changes: Any) -> dict[str, Any]:
    command = UpgradeRelease.model_validate({**RELEASE_SPEC, **changes, "id": release_id})
    reply = await releases.upgrade_release(world.deps, command)
    assert reply["ok"], reply
    await world.run_jobs()
    return release_of(world, release_id)


def live_image(world, name: str) -> str:
    live = world.cluster.objects[("Deployment", "demo", name)]
    return str(live["spec"]["template"]["spec"]["containers"][0]["image"])


# --- install -------------------------------------------------------------------------------


async def test_an_install_hands_the_images_over_runs_helm_and_is_deployed_with_its_workloads(
    world,
):
    await release_ready(world)
    created = await install(world)
    [delivery] = await world.run_jobs()
    assert delivery.acked and not delivery.nacked
    release = release_of(world, created["id"])
    assert (release.status, release.reason, release.helm_revision) == ("deployed", None, 1)
    assert sorted(world.manager.loads) == [
        (CLUSTER.id, BACKEND.reference),
        (CLUSTER.id, FRONTEND.reference),
    ]
    [call] = world.helm.calls
    assert call[:4] == ("upgrade", "todo", "demo", b"todo.tgz")
    assert call[4] == {
        "config": {"greeting": "hi"},
        "frontend": {"image": "todo/frontend:1.0.0"},
        "backend": {"image": "todo/backend:1.0.0"},
    }
    [first] = release.history
    assert (first.revision, first.status, first.chart_version) == (1, "deployed", "0.1.0")
    assert (first.values, first.images) == (RELEASE_SPEC["values"], RELEASE_SPEC["images"])
    workloads = workloads_of(world, created["id"])
    assert sorted(workloads) == [
        "Deployment/todo-backend",
        "Deployment/todo-frontend",
        "Service/todo-backend",
        "Service/todo-frontend",
    ]
    assert sorted(w.entity_id for w in release.workloads) == sorted(
        w.id for w in workloads.values()
    )
    backend = workloads["Deployment/todo-backend"]
    assert (backend.status, backend.image, backend.image_id, backend.replicas) == (
        "running",
        BACKEND.reference,
        BACKEND.id,
        2,
    )
    assert (backend.release_id, backend.chart_id, backend.container_port) == (
        created["id"],
        CHART.id,
        8080,
    )
    assert backend.placement is None  # its chart places its pods, not Slipway
    service = workloads["Service/todo-backend"]
    assert (service.status, service.port, service.target_port, service.deployment_id) == (
        "active",
        80,
        8080,
        backend.id,
    )
    assert world.release_progress.lines[created["id"]][-3:] == [
        "helm upgrade --install todo todo-0.1.0",
        "revision 1: waiting for its workloads",
        "revision 1: deployed",
    ]
    assert world.uow.event_types().count(event(subjects.RELEASE, "deployed")) == 1


async def test_an_image_the_cluster_cannot_get_fails_the_install_before_helm_runs(world):
    await release_ready(world)
    world.manager.load_error = "docker save todo/backend:1.0.0: No such image"
    created = await install(world)
    [delivery] = await world.run_jobs()
    assert delivery.acked
    release = release_of(world, created["id"])
    assert (release.status, release.reason) == (
        "failed",
        "image load failed: docker save todo/backend:1.0.0: No such image",
    )
    assert world.helm.calls == [] and workloads_of(world, created["id"]) == {}


async def test_helms_refusal_fails_the_release_with_helms_words(world):
    await release_ready(world)
    world.helm.failure = "unable to build kubernetes objects from release manifest: bad"
    created = await install(world)
    await world.run_jobs()
    assert release_of(world, created["id"]).reason == (
        "helm install failed: unable to build kubernetes objects from release manifest: bad"
    )


async def test_an_unreachable_cluster_is_retried_then_given_up_with_the_last_reason(world):
    await release_ready(world)
    world.helm.unavailable = True
    created = await install(world)
    [job] = world.queued()
    first = await world.run(job, attempt=1)
    assert first.nacked and not first.acked
    assert release_of(world, created["id"]).status == "pending"
    last = await world.run(job, attempt=3)
    assert last.acked
    release = release_of(world, created["id"])
    assert release.status == "failed"
    assert release.reason.startswith("gave up after 3 attempts: helm install: Kubernetes cluster")


async def test_the_chart_validator_unavailable_is_retried_and_a_chart_it_lost_fails(world):
    await release_ready(world)
    world.charts.error = Unavailable("no service is answering slipway.helm_chart.query.source")
    created = await install(world)
    [job] = world.queued()
    assert (await world.run(job)).nacked
    world.charts.error = NotFound(f"helm_chart '{CHART.id}' does not exist")
    await world.run(job, attempt=2)
    assert release_of(world, created["id"]).reason == (
        f"the chart's files: helm_chart '{CHART.id}' does not exist"
    )


async def test_a_workload_that_never_becomes_available_fails_the_release_with_its_reason(world):
    await release_ready(world)
    why = "ProgressDeadlineExceeded: timed out; ErrImageNeverPull: image is not present"
    world.cluster.rollouts["todo-backend"] = RolloutObservation(
        phase="failed", desired=2, available=0, reason=why
    )
    created = await install(world)
    await world.run_jobs()
    release = release_of(world, created["id"])
    assert release.status == "failed"
    assert release.reason.startswith(f"Deployment demo/todo-backend: {why}")
    workloads = workloads_of(world, created["id"])
    assert (
        workloads["Deployment/todo-backend"].status,
        workloads["Deployment/todo-backend"].reason,
    ) == ("failed", why)
    assert workloads["Deployment/todo-frontend"].status == "running"
    assert release.helm_revision == 1  # helm did its part: the revision is recorded


# --- upgrade, rollback ---------------------------------------------------------------------


async def test_an_upgrade_runs_the_new_image_at_helms_next_revision(world):
    created = await deployed_release(world)
    frontend_before = workloads_of(world, created["id"])["Deployment/todo-frontend"]
    release = await upgrade(world, created["id"], images=NEW_BACKEND)
    assert (release.status, release.helm_revision) == ("deployed", 2)
    assert live_image(world, "todo-backend") == BACKEND_2.reference
    workloads = workloads_of(world, created["id"])
    backend = workloads["Deployment/todo-backend"]
    assert (backend.status, backend.image, backend.image_id) == (
        "running",
        BACKEND_2.reference,
        BACKEND_2.id,
    )
    assert workloads["Deployment/todo-frontend"].revision == frontend_before.revision
    assert [(h.revision, h.status) for h in release.history] == [
        (1, "superseded"),
        (2, "deployed"),
    ]


async def test_a_rollback_restores_the_old_image_and_records_the_old_values(world):
    created = await deployed_release(world)
    await upgrade(world, created["id"], images=NEW_BACKEND, values={"config": {"greeting": "yo"}})
    await releases.rollback_release(world.deps, RollbackRelease(id=created["id"], revision=1))
    await world.run_jobs()
    release = release_of(world, created["id"])
    assert (release.status, release.helm_revision) == ("deployed", 3)
    assert live_image(world, "todo-backend") == BACKEND.reference
    third = release.history[-1]
    assert (third.revision, third.description) == (3, "Rollback to 1")
    assert (third.values, third.images) == (RELEASE_SPEC["values"], RELEASE_SPEC["images"])
    assert workloads_of(world, created["id"])["Deployment/todo-backend"].image_id == BACKEND.id


async def test_workloads_the_new_revision_no_longer_renders_are_removed(world):
    created = await deployed_release(world)
    gone = workloads_of(world, created["id"])["Deployment/todo-frontend"].id
    release = await upgrade(world, created["id"], values={"frontend": None}, images={})
    assert release.status == "deployed"
    assert sorted(workloads_of(world, created["id"])) == [
        "Deployment/todo-backend",
        "Service/todo-backend",
    ]
    assert gone not in world.deployments.rows
    assert {w.name for w in release.workloads} == {"todo-backend"}


async def test_a_job_whose_operation_was_replaced_changes_nothing(world):
    await release_ready(world)
    created = await install(world)
    [stale] = world.queued()
    await releases.uninstall_release(world.deps, UninstallRelease(id=created["id"]))
    await world.run(stale)
    assert world.helm.calls == []
    assert release_of(world, created["id"]).status == "pending"


# --- uninstall -------------------------------------------------------------------------------


async def test_a_failed_uninstall_says_so_and_the_clusters_return_does_not_install_it_again(world):
    created = await deployed_release(world)
    await releases.uninstall_release(world.deps, UninstallRelease(id=created["id"]))
    world.helm.failure = "uninstallation completed with 1 error(s): forbidden"
    await world.run_jobs()
    release = release_of(world, created["id"])
    assert (release.status, release.reason) == (
        "failed",
        "uninstall failed: helm uninstall failed: uninstallation completed with 1 error(s): "
        "forbidden",
    )
    await announce(world, cluster_event("stopped", 8), cluster_event("running", 9))
    assert world.queued() == []


# --- its cluster, the reconcile loop, the deadline sweep ---------------------------------------


async def test_an_outage_fails_the_release_and_its_return_upgrades_it_again(world):
    created = await deployed_release(world)
    await announce(world, cluster_event("stopped", 8))
    release = release_of(world, created["id"])
    assert (release.status, release.reason) == ("failed", "cluster 'local' is stopped")
    assert {w.status for w in workloads_of(world, created["id"]).values()} == {"failed"}
    await announce(world, cluster_event("running", 9))
    assert [job.subject for job in world.queued()] == [subjects.job(subjects.RELEASE, "operate")]
    await world.run_jobs()
    release = release_of(world, created["id"])
    assert (release.status, release.helm_revision) == ("deployed", 2)
    assert {w.status for w in workloads_of(world, created["id"]).values()} == {"running", "active"}
    # Slipway's own manifests never replaced the chart's objects.
    assert not any(
        LABEL_ID in (o["metadata"].get("labels") or {}) for o in world.cluster.objects.values()
    )


async def test_a_release_workload_deleted_behind_its_back_is_drift_and_fails_the_release(world):
    created = await deployed_release(world)
    del world.cluster.objects[("Deployment", "demo", "todo-backend")]
    await reconciliation.reconcile(world.deps)
    backend = workloads_of(world, created["id"])["Deployment/todo-backend"]
    note = "Deployment demo/todo-backend was deleted outside Slipway"
    assert (backend.status, backend.drift) == ("failed", note)
    release = release_of(world, created["id"])
    assert (release.status, release.reason) == ("failed", f"Deployment demo/todo-backend: {note}")
    assert ("Deployment", "demo", "todo-backend") not in world.cluster.objects  # not re-applied


async def test_an_image_changed_behind_the_charts_back_is_reported_as_drift_only(world):
    created = await deployed_release(world)
    live = world.cluster.objects[("Deployment", "demo", "todo-backend")]
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "todo/backend:9.9.9"
    await reconciliation.reconcile(world.deps)
    backend = workloads_of(world, created["id"])["Deployment/todo-backend"]
    assert (backend.status, backend.drift) == (
        "running",
        "Deployment demo/todo-backend was changed outside Slipway: image todo/backend:1.0.0 -> "
        "todo/backend:9.9.9",
    )
    assert release_of(world, created["id"]).status == "deployed"
    assert live_image(world, "todo-backend") == "todo/backend:9.9.9"


async def test_an_install_whose_job_never_ran_fails_at_its_deadline(world):
    await release_ready(world)
    created = await install(world)
    assert await sweeps.sweep_deadlines(world.deps) == 0
    state = release_of(world, created["id"])
    world.releases.rows[created["id"]] = state.model_copy(
        update={"deadline": utcnow() - timedelta(seconds=1)}
    )
    assert await sweeps.sweep_deadlines(world.deps) == 1
    release = release_of(world, created["id"])
    assert release.status == "failed" and release.reason.startswith("not deployed by its deadline")
