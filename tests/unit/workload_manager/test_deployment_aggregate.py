"""The Deployment lifecycle: pending → running|failed, every change rolls through updating."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from slipway_libs.aggregate import utcnow
from slipway_libs.statemachine import IllegalTransition
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.ports import RolloutObservation
from tests.unit.workload_manager.fakes import IMAGE, deployment_spec

AVAILABLE = RolloutObservation(phase="available", desired=3, available=3, ready=3, updated=3)


def new(rollout_id: str = "r1") -> DeploymentAggregate:
    return DeploymentAggregate.accept(
        deployment_spec(), IMAGE, deployment_id="d1", rollout_id=rollout_id, deadline=utcnow()
    )


def running() -> DeploymentAggregate:
    deployment = new()
    deployment.rolled_out("r1", AVAILABLE)
    return deployment


def events(deployment: DeploymentAggregate) -> list[str]:
    return [change.event for change in deployment.changes]


def test_a_new_deployment_is_pending_with_the_image_by_id_and_reference():
    deployment = new()
    assert deployment.status == "pending"
    assert (deployment.state.image_id, deployment.state.image) == (IMAGE.id, "shop/web:1.0.0")
    assert events(deployment) == ["created"]


def test_an_available_rollout_runs_with_the_cluster_counts():
    deployment = running()
    assert deployment.status == "running"
    assert deployment.state.available_replicas == 3
    assert deployment.state.deadline is None
    assert events(deployment) == ["created", "running"]


def test_a_failed_rollout_carries_the_clusters_reason():
    deployment = new()
    deployment.rollout_failed("r1", "ProgressDeadlineExceeded: ReplicaSet has timed out")
    assert deployment.status == "failed"
    assert deployment.state.reason.startswith("ProgressDeadlineExceeded")


def test_a_stale_rollout_changes_nothing():
    deployment = new()
    deployment.scale(5, rollout_id="r2", deadline=utcnow())
    deployment.rolled_out("r1", AVAILABLE)
    assert deployment.status == "pending"
    assert deployment.state.replicas == 5
    assert events(deployment) == ["created", "updated"]


def test_scaling_a_running_deployment_rolls_it_through_updating():
    deployment = running()
    assert deployment.scale(5, rollout_id="r2", deadline=utcnow())
    assert (deployment.status, deployment.state.replicas) == ("updating", 5)
    five = RolloutObservation(phase="available", desired=5, available=5, ready=5, updated=5)
    deployment.rolled_out("r2", five)
    assert (deployment.status, deployment.state.available_replicas) == ("running", 5)
    assert events(deployment)[-2:] == ["updating", "running"]


def test_scaling_to_the_current_count_of_a_running_deployment_is_a_no_op():
    deployment = running()
    assert not deployment.scale(3, rollout_id="r2", deadline=utcnow())
    assert events(deployment) == ["created", "running"]


def test_a_put_that_changes_nothing_is_a_no_op_and_one_that_does_rolls():
    deployment = running()
    assert not deployment.respecify(deployment_spec(), IMAGE, rollout_id="r2", deadline=utcnow())
    assert deployment.respecify(
        deployment_spec(env={"MODE": "prod"}), IMAGE, rollout_id="r2", deadline=utcnow()
    )
    assert deployment.status == "updating"
    assert deployment.state.env == {"MODE": "prod"}


def test_a_failed_deployment_is_fixed_by_a_change():
    deployment = new()
    deployment.rollout_failed("r1", "image load failed: no such image")
    deployment.scale(3, rollout_id="r2", deadline=utcnow())
    assert (deployment.status, deployment.state.reason) == ("updating", None)


def test_a_rollout_past_its_deadline_fails_naming_the_deadline():
    deployment = new()
    deadline = deployment.state.deadline
    assert deadline is not None
    assert not deployment.expire(utcnow() - timedelta(minutes=1))
    assert deployment.expire(utcnow() + timedelta(seconds=1))
    assert (deployment.status, deployment.state.deadline) == ("failed", None)
    assert (
        deployment.state.reason
        == f"rollout did not finish by its deadline ({deadline.isoformat()})"
    )
    assert not deployment.expire(utcnow() + timedelta(minutes=1))  # failed: nothing in flight


def test_a_cluster_outage_fails_it_and_the_clusters_return_rolls_it_again():
    deployment = running()
    assert deployment.cluster_down("cluster 'local' is stopped")
    assert (deployment.status, deployment.state.reason) == ("failed", "cluster 'local' is stopped")
    assert not deployment.cluster_down("cluster 'local' is stopped")  # said once
    assert deployment.cluster_back(rollout_id="r2", deadline=utcnow())
    assert (deployment.status, deployment.state.reason) == ("updating", None)
    assert deployment.state.rollout_id == "r2"


def test_the_clusters_return_leaves_deployments_failed_for_other_reasons():
    deployment = new()
    deployment.rollout_failed("r1", "ErrImagePull: not found")
    assert not deployment.cluster_down("cluster 'local' is stopped")
    assert not deployment.cluster_back(rollout_id="r2", deadline=utcnow())
    assert deployment.state.reason == "ErrImagePull: not found"


def test_a_failed_image_is_noted_on_a_running_deployment_which_keeps_running():
    deployment = running()
    broken = replace(IMAGE, status="failed", reason="removed from the engine")
    assert deployment.image_changed(broken)
    assert deployment.status == "running"
    assert deployment.state.reason == "image shop/web:1.0.0 failed: removed from the engine"
    assert not deployment.image_changed(broken)
    assert deployment.image_changed(IMAGE)  # rebuilt: the note goes
    assert deployment.state.reason is None


def test_a_deployment_deleted_behind_slipways_back_is_drift_and_failed():
    deployment = running()
    note = "Deployment default/web was deleted outside Slipway"
    assert deployment.drift_seen(note, missing=True)
    assert (deployment.status, deployment.state.drift, deployment.state.reason) == (
        "failed",
        note,
        note,
    )
    deployment.repair(rollout_id="r2", deadline=utcnow())
    assert (deployment.status, deployment.state.drift) == ("updating", None)


def test_a_changed_replica_count_is_drift_on_a_running_deployment():
    deployment = running()
    assert deployment.drift_seen("replicas 3 -> 1")
    assert deployment.status == "running"
    assert not deployment.drift_seen("replicas 3 -> 1")
    assert deployment.drift_seen(None)


def test_a_running_deployment_whose_live_rollout_fails_is_failed_with_the_reason():
    deployment = running()
    fewer = RolloutObservation(phase="progressing", desired=3, available=2, ready=2, updated=3)
    assert deployment.observed(fewer)
    assert (deployment.status, deployment.state.available_replicas) == ("running", 2)
    assert not deployment.observed(fewer)
    broken = RolloutObservation(phase="failed", desired=3, reason="ProgressDeadlineExceeded")
    assert deployment.observed(broken)
    assert (deployment.status, deployment.state.reason) == ("failed", "ProgressDeadlineExceeded")


def test_removing_keeps_a_note_in_the_deleted_snapshot():
    deployment = running()
    deployment.remove("removed from Slipway; cluster 'local' is stopped")
    assert events(deployment)[-1] == "deleted"
    assert "cluster 'local' is stopped" in deployment.state.reason


def test_status_moves_only_through_the_transition_table():
    deployment = new()
    with pytest.raises(IllegalTransition):
        deployment.transition("updating")
