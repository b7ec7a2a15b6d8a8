"""Event intake and reactions (service_layer/projections.py, reactions.py): the other
services' events projected (newer versions only), clusters and images reacted to."""

from __future__ import annotations

import pytest

from slipway_contracts import subjects
from slipway_libs.errors import Unavailable
from slipway_workload_manager.service_layer import projections, reactions
from tests.unit.workload_manager.fakes import (
    CLUSTER,
    IMAGE,
    announce,
    cluster_event,
    create_service,
    event,
    image_event,
    outcome,
    running_deployment,
    state_of,
)

# --- projections ---------------------------------------------------------------------


async def test_events_apply_in_order_and_a_redelivered_or_late_one_changes_nothing(world):
    building, built = image_event("building", 1), image_event("built", 2, digest="sha256:b")
    await announce(world, building, built, built, building)
    image = await world.projections.image(IMAGE.id)
    assert (image.status, image.digest, image.reference) == ("built", "sha256:b", "shop/web:1.0.0")


async def test_a_deleted_entity_is_gone_and_stays_gone_whatever_comes_late(world):
    chart = event("helm_chart", "valid", "ch-1", 2, name="web", status="valid")
    deleted = event("helm_chart", "deleted", "ch-1", 3, name="web", status="valid")
    await announce(world, chart, deleted, chart)
    assert await world.projections.chart("ch-1") is None


async def test_events_of_this_services_own_entities_are_skipped(world):
    assert not await projections.project_event(world.deps, event("deployment", "running", "d", 2))
    assert not await projections.project_event(world.deps, {"type": "nonsense"})
    assert world.projections.rows == {}


async def test_a_failed_reaction_keeps_the_projection(world):
    await running_deployment(world)
    world.uow.fail_next_commit = RuntimeError("MongoDB went away mid-commit")
    assert await projections.project_event(world.deps, cluster_event("stopped", 3))
    assert (await world.projections.cluster(CLUSTER.id)).status == "stopped"


async def test_a_batch_keeps_the_newer_of_two_versions_of_one_entity(world):
    built, building = image_event("built", 2, digest="sha256:b"), image_event("building", 1)
    assert await projections.project_events(world.deps, [built, building]) == 2
    image = await world.projections.image(IMAGE.id)
    assert (image.status, image.digest) == ("built", "sha256:b")


async def test_a_batch_reacts_to_each_change_of_an_entity_in_order(world):
    deployment = await running_deployment(world)
    batch = [cluster_event("stopped", 3), cluster_event("running", 4)]
    assert await projections.project_events(world.deps, batch) == 2
    # the outage failed it, and the cluster's return rolls it out again, as one by one
    assert outcome(world, deployment["id"]) == ("updating", None)
    assert [j.subject for j in world.queued()] == [subjects.job(subjects.DEPLOYMENT, "rollout")]


async def test_a_batch_skips_what_is_not_to_project_and_projects_the_rest(world):
    batch = [event("deployment", "running", "d", 2), cluster_event("running", 1)]
    assert await projections.project_events(world.deps, batch) == 1
    assert (await world.projections.cluster(CLUSTER.id)).status == "running"


async def test_a_failed_write_mid_batch_raises_and_its_redelivery_loses_nothing(world):
    deployment = await running_deployment(world)
    batch = [cluster_event("stopped", 3), cluster_event("running", 4)]  # two waves
    world.projections.write_failures = [None, Unavailable("MongoDB went away")]
    with pytest.raises(Unavailable):
        await projections.project_events(world.deps, batch)
    assert (await world.projections.cluster(CLUSTER.id)).status == "stopped"  # the first wave
    assert outcome(world, deployment["id"])[0] == "failed"  # and its reaction, nothing after
    assert await projections.project_events(world.deps, batch) == 2  # redelivered
    assert (await world.projections.cluster(CLUSTER.id)).status == "running"
    assert outcome(world, deployment["id"]) == ("updating", None)


# --- clusters ----------------------------------------------------------------------------


async def test_a_stopped_cluster_fails_its_workloads_and_its_return_rolls_them_out(world):
    deployment = await running_deployment(world)
    service = await create_service(world, deployment["id"])
    await world.run_jobs()
    await announce(world, cluster_event("stopped", 3))
    assert outcome(world, deployment["id"]) == ("failed", "cluster 'local' is stopped")
    assert outcome(world, service["id"]) == ("failed", "cluster 'local' is stopped")
    assert state_of(world, deployment["id"]).available_replicas == 0
    assert state_of(world, service["id"]).endpoints == []
    await announce(world, cluster_event("running", 4))
    assert outcome(world, deployment["id"]) == ("updating", None)
    assert outcome(world, service["id"]) == ("pending", None)
    assert [j.subject for j in world.queued()] == [
        subjects.job(subjects.DEPLOYMENT, "rollout"),
        subjects.job(subjects.SERVICE, "apply"),
    ]
    await world.run_jobs()
    assert outcome(world, deployment["id"]) == ("running", None)
    assert outcome(world, service["id"]) == ("active", None)


async def test_a_cluster_in_error_gives_its_reason_and_a_repeat_changes_nothing(world):
    deployment = await running_deployment(world)
    await announce(world, cluster_event("error", 3, reason="the API server stopped answering"))
    assert outcome(world, deployment["id"]) == (
        "failed",
        "cluster 'local' is in error: the API server stopped answering",
    )
    revision = state_of(world, deployment["id"]).revision
    cluster = await world.projections.cluster(CLUSTER.id)
    assert await reactions.react_to_cluster(world.deps, CLUSTER.id, cluster) == 0
    assert state_of(world, deployment["id"]).revision == revision


async def test_a_cluster_that_is_gone_for_good_fails_its_deployments(world):
    deployment = await running_deployment(world)
    gone = event("minikube_cluster", "deleted", CLUSTER.id, 3, name="local", status="stopped")
    await announce(world, gone)
    assert outcome(world, deployment["id"]) == (
        "failed",
        f"cluster '{CLUSTER.id}' no longer exists",
    )


async def test_a_workload_failed_for_another_reason_stays_failed_when_the_cluster_returns(world):
    world.manager.load_error = "no such image"
    deployment = await running_deployment(world)
    failed = ("failed", "image load failed: no such image")
    assert outcome(world, deployment["id"]) == failed
    await announce(world, cluster_event("stopped", 3))
    assert outcome(world, deployment["id"]) == failed  # keeps the reason it failed with
    await announce(world, cluster_event("running", 4))
    assert outcome(world, deployment["id"]) == failed
    assert world.queued() == []


# --- images ----------------------------------------------------------------------------


async def test_a_failed_image_is_noted_on_the_deployments_that_run_it_and_cleared_when_fixed(
    world,
):
    deployment = await running_deployment(world)
    await announce(world, image_event("failed", 3, reason="the image vanished from the engine"))
    assert outcome(world, deployment["id"]) == (
        "running",
        "image shop/web:1.0.0 failed: the image vanished from the engine",
    )
    assert world.cluster.objects  # nothing was torn down
    await announce(world, image_event("built", 4))
    assert outcome(world, deployment["id"]) == ("running", None)
    assert await reactions.react_to_image(world.deps, "unknown-image") == 0
