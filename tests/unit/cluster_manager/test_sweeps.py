"""The deadline sweep (service_layer/sweeps.py): no operation outlives its deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slipway_cluster_manager.service_layer.sweeps import expire_overdue_operations
from tests.unit.cluster_manager.fakes import Parts


async def test_an_operation_past_its_deadline_ends_error_saying_how_long_it_was_allowed(
    parts: Parts,
):
    started = datetime.now(UTC) - timedelta(seconds=601)
    cluster = parts.put(operation="start", deadline=started + timedelta(seconds=600))
    # The deadline counts from the operation's start.
    row = parts.clusters.rows[cluster.id]
    row.operation = row.operation.model_copy(update={"started_at": started})  # type: ignore[union-attr]

    assert await expire_overdue_operations(parts.deps) == 1

    stored = await parts.stored(cluster.id)
    assert (stored.status, stored.state.operation) == ("error", None)
    assert stored.state.reason == "start did not finish within 600 s"
    assert parts.events() == ["error"]


async def test_a_running_clusters_overdue_stop_ends_error_too(parts: Parts):
    cluster = parts.put(
        status="running", operation="stop", deadline=datetime.now(UTC) - timedelta(seconds=1)
    )

    assert await expire_overdue_operations(parts.deps) == 1

    assert (await parts.stored(cluster.id)).status == "error"


async def test_operations_within_their_deadline_and_idle_clusters_are_left_alone(
    parts: Parts,
):
    in_time = parts.put("busy", operation="start")
    idle = parts.put("idle", status="running")

    assert await expire_overdue_operations(parts.deps) == 0

    assert (await parts.stored(in_time.id)).state.operation is not None
    assert (await parts.stored(idle.id)).revision == idle.revision
    assert parts.uow.events == []
