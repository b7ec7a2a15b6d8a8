"""Removing a workload: its objects from the cluster first (bounded in time), then the record
with a leftover note, so that an object the cluster could not remove now goes later."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slipway_contracts.commands import DeleteDeployment, DeleteService
from slipway_contracts.entities import Deployment, Service
from slipway_libs.unit_of_work import Repository, check_if_match
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.manifests import objects_of
from slipway_workload_manager.domain.ports import Leftover
from slipway_workload_manager.domain.workload import WorkloadAggregate
from slipway_workload_manager.service_layer.dependencies import Dependencies

log = logging.getLogger(__name__)


async def remove_object(deps: Dependencies, kind: str, state: Deployment | Service) -> str | None:
    """Delete the entity's objects from its cluster (a Deployment's ServiceAccount and
    NetworkPolicy after it); a note when that was not possible.

    When the cluster is not running (or does not answer in time) the record is removed
    anyway and the note says so; the object is removed when the cluster is next seen
    running (a leftover, kept with the deletion).
    """
    cluster = await deps.projections.cluster(state.cluster_id)
    where = f"{kind} {state.namespace}/{state.name}"
    outage = rules.cluster_outage(cluster, state.cluster_id)
    if cluster is None:
        return f"removed from Slipway; {outage}"  # and its objects went with it
    if outage is not None:
        return f"removed from Slipway; {outage}: its {where} is removed when it runs again"
    try:
        async with asyncio.timeout(deps.settings.delete_timeout_s):
            access = await deps.connections.access(cluster)
            for object_kind, name in objects_of(kind, state.name):
                await deps.cluster.delete(access, object_kind, state.namespace, name)
    except Exception as exc:  # whatever the cause, the user is told what was left
        deps.connections.forget(cluster.id)
        why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            why = f"no answer within {deps.settings.delete_timeout_s:g} s"
        log.warning("object not removed from its cluster", extra={"object": where, "error": why})
        return (
            f"removed from Slipway; cluster '{cluster.name}' could not remove its {where} "
            f"now ({why}): it is retried while the cluster runs"
        )
    return None


async def remove_record(
    deps: Dependencies,
    repository: Repository[Any],
    command: DeleteDeployment | DeleteService,
    kind: str,
    note: str | None,
) -> dict[str, Any]:
    """Delete the record (its snapshot, with the note, is the answer), keeping its object
    as a leftover."""
    async with deps.uow:
        workload: WorkloadAggregate[Any] = await repository.get(command.id)
        check_if_match(workload, command.expected_revision)
        state = workload.state
        workload.remove(note)
        leftover = Leftover(state.id, kind, state.cluster_id, state.namespace, state.name)
        await deps.leftovers.add(deps.uow, leftover)
        return await deps.uow.commit(answer=workload.snapshot())
