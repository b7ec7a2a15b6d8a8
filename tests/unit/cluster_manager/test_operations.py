"""Starting, stopping, restarting and deleting clusters (service_layer/operations.py): the
commands that put an operation in flight, and the job that carries it out, run as the job consumer
runs it (`run_job`: success acks; a permanent failure or the last attempt ends `error`)."""

from __future__ import annotations

import asyncio
import functools

import pytest

from slipway_cluster_manager.domain.ports import PermanentDriverError, TemporaryDriverError
from slipway_cluster_manager.service_layer.operations import (
    OPERATE,
    abandon_operation,
    carry_out_operation,
    delete_cluster,
    restart_cluster,
    start_cluster,
    stop_cluster,
)
from slipway_contracts.commands import DeleteCluster, RestartCluster, StartCluster, StopCluster
from slipway_contracts.jobs import ClusterOperationJob
from slipway_libs.errors import Conflict, NotFound, PreconditionFailed
from slipway_libs.jobs import run_job
from tests.fakes import FakeDelivery, command_id
from tests.unit.cluster_manager.fakes import API_SERVER, START_LINES, Parts
from tests.waiting import eventually


def job_of(parts: Parts) -> ClusterOperationJob:
    """The one job the commands queued."""
    [job] = parts.uow.jobs
    assert job.subject == OPERATE
    return ClusterOperationJob.model_validate(job.payload)


async def run(parts: Parts, job: ClusterOperationJob, attempt: int = 1) -> FakeDelivery:
    """Run the job as its consumer does; the delivery says whether it was acked."""
    delivery = FakeDelivery(attempt)
    await run_job(
        delivery,
        parts.deps.settings,
        work=functools.partial(carry_out_operation, parts.deps, job),
        give_up=functools.partial(abandon_operation, parts.deps, job),
    )
    return delivery


# --- commands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "use_case", "command", "action"),
    [
        ("stopped", start_cluster, StartCluster, "start"),
        ("error", start_cluster, StartCluster, "start"),
        ("running", stop_cluster, StopCluster, "stop"),
        ("error", stop_cluster, StopCluster, "stop"),
        ("running", restart_cluster, RestartCluster, "restart"),
    ],
)
async def test_an_action_puts_its_operation_in_flight_and_queues_its_job(
    parts: Parts, status, use_case, command, action
):
    cluster = parts.put(status=status)

    reply = await use_case(parts.deps, command(id=cluster.id))

    operation = reply["data"]["operation"]
    assert (reply["data"]["status"], operation["action"]) == (status, action)
    assert parts.events() == ["updated"]
    job = job_of(parts)
    assert (job.cluster_id, job.operation_id, job.action) == (cluster.id, operation["id"], action)
    assert parts.uow.jobs[0].msg_id == operation["id"]


@pytest.mark.parametrize(
    ("status", "use_case", "command", "message"),
    [
        (
            "running",
            start_cluster,
            StartCluster,
            "cluster 'demo' is running; there is nothing to start",
        ),
        (
            "stopped",
            stop_cluster,
            StopCluster,
            "cluster 'demo' is stopped; there is nothing to stop",
        ),
        ("stopped", restart_cluster, RestartCluster, "cluster 'demo' is stopped; start it instead"),
    ],
)
async def test_an_action_with_nothing_to_do_is_a_conflict_naming_the_status(
    parts: Parts, status, use_case, command, message
):
    cluster = parts.put(status=status)

    with pytest.raises(Conflict) as refused:
        await use_case(parts.deps, command(id=cluster.id))

    assert refused.value.message == message
    assert refused.value.details == {"current_status": status}
    assert parts.uow.events == [] and parts.uow.jobs == []


async def test_one_operation_at_a_time(parts: Parts):
    cluster = parts.put(status="running", operation="stop")

    with pytest.raises(Conflict) as refused:
        await restart_cluster(parts.deps, RestartCluster(id=cluster.id))

    assert "a stop is in flight" in refused.value.message
    assert refused.value.details == {"current_status": "running", "operation": "stop"}


async def test_an_attached_cluster_is_never_started_or_stopped(parts: Parts):
    cluster = parts.put("prod", driver="kubeconfig", kubeconfig="/kc")

    with pytest.raises(Conflict) as refused:
        await start_cluster(parts.deps, StartCluster(id=cluster.id))

    assert "attached through a kubeconfig" in refused.value.message


async def test_an_action_with_a_stale_revision_is_a_failed_precondition(parts: Parts):
    cluster = parts.put()
    with pytest.raises(PreconditionFailed):
        await start_cluster(parts.deps, StartCluster(id=cluster.id, expected_revision=9))
    assert parts.uow.jobs == []


async def test_an_action_on_an_unknown_cluster_is_not_found(parts: Parts):
    with pytest.raises(NotFound):
        await stop_cluster(parts.deps, StopCluster(id="nope"))


async def test_a_repeated_start_returns_the_first_reply_and_queues_one_job(parts: Parts):
    cluster = parts.put()
    with command_id("start-1"):
        first = await start_cluster(parts.deps, StartCluster(id=cluster.id))
        second = await start_cluster(parts.deps, StartCluster(id=cluster.id))

    assert second == first and first["ok"]
    assert len(parts.uow.jobs) == 1


# --- the job --------------------------------------------------------------------------


async def test_a_start_ends_running_with_its_api_server_and_its_progress(parts: Parts):
    cluster = parts.put()
    await start_cluster(parts.deps, StartCluster(id=cluster.id))
    job = job_of(parts)

    delivery = await run(parts, job)

    assert delivery.acked
    stored = await parts.stored(cluster.id)
    assert (stored.status, stored.state.operation) == ("running", None)
    assert stored.state.api_server == API_SERVER
    assert parts.driver.called("start") == ["demo"]
    assert parts.events() == ["updated", "updated", "running"]
    progress_event = parts.uow.events[1].payload["data"]
    assert progress_event["operation"]["progress"] == START_LINES
    assert parts.progress.published == [(cluster.id, job.operation_id, START_LINES)]


async def test_a_stop_ends_stopped_without_an_api_server(parts: Parts):
    cluster = parts.put(status="running")
    await stop_cluster(parts.deps, StopCluster(id=cluster.id))

    assert (await run(parts, job_of(parts))).acked

    stored = await parts.stored(cluster.id)
    assert (stored.status, stored.state.api_server) == ("stopped", None)
    assert parts.driver.called("stop") == ["demo"]
    assert parts.events() == ["updated", "stopped"]


async def test_a_restart_stops_then_starts_the_cluster(parts: Parts):
    cluster = parts.put(status="running")
    await restart_cluster(parts.deps, RestartCluster(id=cluster.id))

    assert (await run(parts, job_of(parts))).acked

    assert [method for method, _ in parts.driver.calls] == ["stop", "start", "kubeconfig"]
    assert parts.events() == ["updated", "stopped", "updated", "running"]
    assert (await parts.stored(cluster.id)).status == "running"


async def test_a_permanent_driver_failure_ends_error_with_its_reason_at_once(parts: Parts):
    cluster = parts.put()
    await start_cluster(parts.deps, StartCluster(id=cluster.id))
    parts.driver.fail["start"] = PermanentDriverError("RSRC_INSUFFICIENT_CORES: 2 cores needed")

    delivery = await run(parts, job_of(parts))

    assert delivery.acked and delivery.nacked == []
    stored = await parts.stored(cluster.id)
    assert (stored.status, stored.state.operation) == ("error", None)
    assert stored.state.reason == "RSRC_INSUFFICIENT_CORES: 2 cores needed"
    assert parts.events()[-1] == "error"


async def test_a_retryable_failure_is_retried_then_ends_error_on_the_last_attempt(
    tmp_path,
):
    parts = Parts(tmp_path, job_max_deliver=2)
    cluster = parts.put()
    await start_cluster(parts.deps, StartCluster(id=cluster.id))
    parts.driver.fail["start"] = TemporaryDriverError("minikube start failed with exit code 1")
    job = job_of(parts)

    first = await run(parts, job, attempt=1)
    assert (first.acked, len(first.nacked)) == (False, 1)
    assert (await parts.stored(cluster.id)).state.operation is not None  # still in flight

    last = await run(parts, job, attempt=2)

    assert last.acked
    stored = await parts.stored(cluster.id)
    assert stored.status == "error"
    assert stored.state.reason == (
        "gave up after 2 attempts: minikube start failed with exit code 1"
    )


async def test_a_start_past_its_deadline_ends_error_saying_how_long_it_was_allowed(tmp_path):
    parts = Parts(tmp_path, sim_start_deadline_s=0.05)
    cluster = parts.put()
    await start_cluster(parts.deps, StartCluster(id=cluster.id))
    parts.driver.hold = asyncio.Event()  # the start never finishes

    delivery = await run(parts, job_of(parts))

    assert delivery.acked
    stored = await parts.stored(cluster.id)
    assert stored.status == "error"
    assert stored.state.reason == "start did not finish within 0.05 s"
    # What the start printed before it hung is kept all the same.
    assert parts.progress.published[0][2] == START_LINES


async def test_progress_is_kept_and_published_while_the_start_runs(tmp_path):
    parts = Parts(tmp_path, progress_flush_s=0.01)
    cluster = parts.put()
    await start_cluster(parts.deps, StartCluster(id=cluster.id))
    parts.driver.hold = asyncio.Event()
    running = asyncio.create_task(run(parts, job_of(parts)))

    await eventually(lambda: parts.progress.published, what="progress published")
    operation = (await parts.stored(cluster.id)).state.operation
    assert operation is not None and operation.progress == START_LINES

    parts.driver.hold.set()
    assert (await running).acked
    assert (await parts.stored(cluster.id)).status == "running"


async def test_a_job_for_a_deleted_cluster_changes_nothing(parts: Parts):
    cluster = parts.put()
    await start_cluster(parts.deps, StartCluster(id=cluster.id))
    job = job_of(parts)
    del parts.clusters.rows[cluster.id]

    assert (await run(parts, job)).acked

    assert parts.driver.calls == []
    assert parts.clusters.rows == {}


async def test_a_job_whose_operation_ended_changes_nothing(parts: Parts):
    cluster = parts.put()
    await start_cluster(parts.deps, StartCluster(id=cluster.id))
    job = job_of(parts)
    assert (await run(parts, job)).acked
    events_before = list(parts.uow.events)

    assert (await run(parts, job)).acked  # redelivered after it finished

    assert parts.driver.called("start") == ["demo"]
    assert parts.uow.events == events_before


async def test_giving_up_a_stale_operation_changes_nothing(parts: Parts):
    cluster = parts.put(status="running", operation="stop")
    stale = ClusterOperationJob(cluster_id=cluster.id, operation_id="old", action="stop")

    await abandon_operation(parts.deps, stale, "gave up after 5 attempts: timeout")

    stored = await parts.stored(cluster.id)
    assert (stored.status, stored.revision) == ("running", cluster.revision)


# --- delete ---------------------------------------------------------------------------


async def delete(parts: Parts, cluster_id: str, attempt: int = 1) -> FakeDelivery:
    """Send the delete command, then run the job it queued."""
    reply = await delete_cluster(parts.deps, DeleteCluster(id=cluster_id))
    assert reply["data"]["operation"]["action"] == "delete"
    return await run(parts, job_of(parts), attempt)


async def test_a_delete_answers_at_once_and_its_job_removes_the_cluster(parts: Parts):
    cluster = parts.put("doomed", status="running")

    reply = await delete_cluster(parts.deps, DeleteCluster(id=cluster.id))

    assert parts.driver.calls == []  # the command waits on no driver
    assert (reply["data"]["status"], reply["data"]["operation"]["action"]) == ("running", "delete")
    assert parts.events() == ["updated"]
    assert (await run(parts, job_of(parts))).acked
    assert parts.driver.calls == [("stop", "doomed"), ("delete", "doomed")]
    assert cluster.id not in parts.clusters.rows
    assert parts.events() == ["updated", "deleted"]


async def test_deleting_a_stopped_cluster_does_not_stop_it_again(parts: Parts):
    cluster = parts.put("idle")
    assert (await delete(parts, cluster.id)).acked
    assert parts.driver.calls == [("delete", "idle")]


async def test_deleting_an_attached_cluster_only_detaches_it(parts: Parts):
    cluster = parts.put("prod", driver="kubeconfig", status="running", kubeconfig="/kc")
    assert (await delete(parts, cluster.id)).acked
    assert parts.driver.called("stop") == []
    assert cluster.id not in parts.clusters.rows


async def test_a_failing_stop_does_not_keep_a_cluster_from_being_deleted(parts: Parts):
    cluster = parts.put("stuck", status="running")
    parts.driver.fail["stop"] = TemporaryDriverError("minikube stop timed out")

    assert (await delete(parts, cluster.id)).acked

    assert parts.driver.called("delete") == ["stuck"]
    assert cluster.id not in parts.clusters.rows


async def test_a_backend_that_cannot_delete_ends_error_with_the_reason(parts: Parts):
    cluster = parts.put("kept")
    parts.driver.fail["delete"] = PermanentDriverError("profile is locked", code="GUEST_LOCKED")

    assert (await delete(parts, cluster.id)).acked

    stored = await parts.stored(cluster.id)
    assert (stored.status, stored.state.reason, stored.state.operation) == (
        "error",
        "profile is locked",
        None,
    )
    assert parts.events() == ["updated", "error"]


async def test_a_retryable_delete_failure_is_retried(parts: Parts):
    cluster = parts.put("busy-backend")
    parts.driver.fail["delete"] = TemporaryDriverError("the backend is busy")

    delivery = await delete(parts, cluster.id)

    assert delivery.nacked and not delivery.acked
    assert (await parts.stored(cluster.id)).state.operation is not None


async def test_a_cluster_is_not_deleted_in_the_middle_of_an_operation(parts: Parts):
    cluster = parts.put("busy", operation="start")

    with pytest.raises(Conflict) as refused:
        await delete_cluster(parts.deps, DeleteCluster(id=cluster.id))

    assert "a start is in flight" in refused.value.message
    assert parts.uow.jobs == []


async def test_a_delete_in_flight_refuses_other_operations(parts: Parts):
    cluster = parts.put("leaving", status="running")
    await delete_cluster(parts.deps, DeleteCluster(id=cluster.id))

    with pytest.raises(Conflict) as refused:
        await stop_cluster(parts.deps, StopCluster(id=cluster.id))

    assert "a delete is in flight" in refused.value.message


async def test_a_delete_with_a_stale_revision_is_a_failed_precondition(parts: Parts):
    cluster = parts.put("etag")
    with pytest.raises(PreconditionFailed):
        await delete_cluster(parts.deps, DeleteCluster(id=cluster.id, expected_revision=7))
    assert parts.uow.jobs == []


async def test_deleting_an_unknown_cluster_is_not_found(parts: Parts):
    with pytest.raises(NotFound) as refused:
        await delete_cluster(parts.deps, DeleteCluster(id="nope"))
    assert refused.value.message == "minikube_cluster 'nope' does not exist"


async def test_a_repeated_delete_returns_the_first_reply_and_queues_one_job(parts: Parts):
    cluster = parts.put("gone")
    with command_id("delete-1"):
        first = await delete_cluster(parts.deps, DeleteCluster(id=cluster.id))
        assert (await run(parts, job_of(parts))).acked
        second = await delete_cluster(parts.deps, DeleteCluster(id=cluster.id))

    assert second == first and first["ok"]
    assert parts.driver.called("delete") == ["gone"]
    assert parts.events() == ["updated", "deleted"]
