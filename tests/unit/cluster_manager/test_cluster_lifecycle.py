"""A cluster's lifecycle rules: operations, their outcomes, deadlines and health probes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slipway_cluster_manager.domain.cluster import PROGRESS_LINES_KEPT, ClusterAggregate
from slipway_contracts.commands import ClusterSpec
from slipway_contracts.entities import ClusterOperation
from slipway_libs.errors import Conflict

LATER = datetime.now(UTC) + timedelta(minutes=10)
SIM = ClusterSpec(name="demo", driver="sim")
ATTACHED = ClusterSpec(name="prod", driver="kubeconfig", kubeconfig="/kc", context="prod")


def stored(cluster: ClusterAggregate) -> ClusterAggregate:
    """As the repository hands it out after a save: no pending changes."""
    cluster.loaded_revision = (cluster.loaded_revision or 0) + len(cluster.changes)
    cluster.state = cluster.state.model_copy(update={"revision": cluster.loaded_revision})
    cluster.changes.clear()
    return cluster


def registered(spec: ClusterSpec = SIM) -> ClusterAggregate:
    return stored(ClusterAggregate.register(spec, cluster_id="c1"))


def running() -> ClusterAggregate:
    cluster = registered()
    cluster.begin("start", operation_id="op1", deadline=LATER)
    cluster.operation_succeeded("op1", api_server="https://127.0.0.1:6443")
    return stored(cluster)


def events(cluster: ClusterAggregate) -> list[tuple[str, str | None]]:
    return [(c.event, c.previous_status) for c in cluster.changes]


def test_a_new_cluster_is_stopped_and_records_its_creation():
    cluster = ClusterAggregate.register(SIM, cluster_id="c1")
    assert cluster.status == "stopped"
    assert cluster.state.operation is None
    assert events(cluster) == [("created", None)]


def test_created_with_start_the_first_start_is_already_in_flight():
    start = ClusterOperation(id="op1", action="start", started_at=datetime.now(UTC), deadline=LATER)
    cluster = ClusterAggregate.register(SIM, cluster_id="c1", start=start)
    assert cluster.status == "stopped"
    assert cluster.state.operation is not None and cluster.state.operation.action == "start"
    assert events(cluster) == [("created", None)]


def test_a_start_runs_as_an_operation_and_ends_running_with_its_api_server():
    cluster = registered()
    cluster.begin("start", operation_id="op1", deadline=LATER)
    assert cluster.status == "stopped"
    assert cluster.state.operation is not None
    assert cluster.state.operation.deadline == LATER

    cluster.operation_succeeded("op1", api_server="https://127.0.0.1:6443")

    assert cluster.status == "running"
    assert cluster.state.operation is None
    assert cluster.state.api_server == "https://127.0.0.1:6443"
    assert events(cluster) == [("updated", "stopped"), ("running", "stopped")]


def test_a_stop_ends_stopped_and_forgets_the_api_server():
    cluster = running()
    cluster.begin("stop", operation_id="op2", deadline=LATER)
    cluster.operation_succeeded("op2", api_server=None)
    assert cluster.status == "stopped"
    assert cluster.state.api_server is None
    assert events(cluster)[-1] == ("stopped", "running")


def test_a_restart_passes_through_stopped_and_ends_running():
    cluster = running()
    cluster.begin("restart", operation_id="op2", deadline=LATER)
    cluster.stopped_for_restart("op2")
    assert cluster.status == "stopped"
    assert cluster.state.operation is not None  # still in flight

    cluster.operation_succeeded("op2", api_server="https://127.0.0.1:7443")

    assert cluster.status == "running"
    assert [e for e, _ in events(cluster)] == ["updated", "stopped", "running"]


def test_starting_a_running_cluster_is_a_conflict_naming_its_status():
    cluster = running()
    with pytest.raises(Conflict) as caught:
        cluster.begin("start", operation_id="op2", deadline=LATER)
    assert "cluster 'demo' is running" in caught.value.message
    assert caught.value.details == {"current_status": "running"}
    assert cluster.changes == []


@pytest.mark.parametrize("action", ["stop", "restart"])
def test_stopping_or_restarting_a_stopped_cluster_is_a_conflict(action):
    with pytest.raises(Conflict) as caught:
        registered().begin(action, operation_id="op1", deadline=LATER)
    assert "cluster 'demo' is stopped" in caught.value.message


def test_an_errored_cluster_can_be_started_stopped_or_restarted():
    for action in ("start", "stop", "restart"):
        cluster = registered()
        cluster.begin("start", operation_id="op1", deadline=LATER)
        cluster.operation_failed("op1", "boom")
        assert cluster.status == "error"
        cluster.begin(action, operation_id="op2", deadline=LATER)  # no Conflict


def test_one_operation_at_a_time_and_the_conflict_names_the_one_in_flight():
    cluster = registered()
    cluster.begin("start", operation_id="op1", deadline=LATER)
    with pytest.raises(Conflict) as caught:
        cluster.begin("stop", operation_id="op2", deadline=LATER)
    assert "a start is in flight" in caught.value.message
    assert caught.value.details["operation"] == "start"
    with pytest.raises(Conflict):
        cluster.check_action("delete")


@pytest.mark.parametrize("action", ["start", "stop", "restart"])
def test_attached_clusters_are_never_started_or_stopped_by_slipway(action):
    cluster = registered(ATTACHED)
    with pytest.raises(Conflict) as caught:
        cluster.begin(action, operation_id="op1", deadline=LATER)
    assert "attached through a kubeconfig" in caught.value.message
    assert f"Slipway does not {action} attached clusters" in caught.value.message


def test_a_failed_start_ends_error_with_the_reason():
    cluster = registered()
    cluster.begin("start", operation_id="op1", deadline=LATER)
    cluster.operation_failed("op1", "minikube start failed with exit code 29")
    assert cluster.status == "error"
    assert cluster.state.reason == "minikube start failed with exit code 29"
    assert cluster.state.operation is None


def test_outcomes_of_a_stale_operation_change_nothing():
    cluster = running()
    cluster.operation_succeeded("an-old-operation", api_server=None)
    cluster.operation_failed("an-old-operation", "late news")
    cluster.record_progress("an-old-operation", ["line"])
    assert cluster.status == "running"
    assert cluster.changes == []


def test_progress_keeps_the_latest_lines_of_the_operation():
    cluster = registered()
    cluster.begin("start", operation_id="op1", deadline=LATER)
    for batch in range(5):
        cluster.record_progress("op1", [f"line {batch}.{n}" for n in range(10)])
    progress = cluster.state.operation.progress
    assert len(progress) == PROGRESS_LINES_KEPT
    assert progress[-1] == "line 4.9"
    assert progress[0] == "line 3.0"


def test_an_operation_past_its_deadline_ends_error_saying_how_long_it_had():
    cluster = registered()
    started = datetime.now(UTC)
    cluster.begin("start", operation_id="op1", deadline=started + timedelta(seconds=600))
    assert not cluster.expire(started + timedelta(seconds=599))

    assert cluster.expire(started + timedelta(seconds=601))

    assert cluster.status == "error"
    assert cluster.state.reason == "start did not finish within 600 s"
    assert cluster.state.operation is None


def test_a_failing_probe_moves_a_running_cluster_to_error_and_a_good_one_back():
    cluster = running()
    assert cluster.observe(
        healthy=False, reason="the process is gone", seen_revision=cluster.revision
    )
    assert (cluster.status, cluster.state.reason) == ("error", "the process is gone")
    stored(cluster)

    assert cluster.observe(healthy=True, reason=None, seen_revision=cluster.revision)

    assert cluster.status == "running"
    assert cluster.state.reason is None
    assert cluster.state.last_probe is not None


def test_probes_that_change_nothing_write_nothing():
    cluster = running()
    assert not cluster.observe(healthy=True, reason=None, seen_revision=cluster.revision)
    stopped = registered()
    assert not stopped.observe(healthy=False, reason="down", seen_revision=stopped.revision)
    assert not stopped.observe(healthy=True, reason=None, seen_revision=stopped.revision)
    assert cluster.changes == stopped.changes == []


def test_an_errored_cluster_keeps_the_reason_it_failed_with():
    cluster = registered()
    cluster.begin("start", operation_id="op1", deadline=LATER)
    cluster.operation_failed("op1", "start did not finish within 600 s")
    stored(cluster)
    assert not cluster.observe(healthy=False, reason="not running", seen_revision=cluster.revision)
    assert cluster.state.reason == "start did not finish within 600 s"


def test_a_probe_of_an_older_revision_or_during_an_operation_is_ignored():
    cluster = running()
    assert not cluster.observe(healthy=False, reason="down", seen_revision=cluster.revision - 1)
    cluster.begin("stop", operation_id="op2", deadline=LATER)
    assert not cluster.observe(healthy=False, reason="down", seen_revision=cluster.revision)
    assert cluster.status == "running"


def test_an_attached_cluster_turns_running_when_it_answers_and_error_when_not():
    reachable = registered(ATTACHED)
    assert reachable.observe(healthy=True, reason=None, seen_revision=reachable.revision)
    assert reachable.status == "running"

    unreachable = registered(ATTACHED)
    assert unreachable.observe(
        healthy=False, reason="connection refused", seen_revision=unreachable.revision
    )
    assert (unreachable.status, unreachable.state.reason) == ("error", "connection refused")


def test_the_kubeconfig_needs_a_running_cluster():
    with pytest.raises(Conflict) as caught:
        registered().require_running("hand out its kubeconfig")
    assert caught.value.message == (
        "cluster 'demo' is stopped; it must be running to hand out its kubeconfig"
    )
    running().require_running("hand out its kubeconfig")
