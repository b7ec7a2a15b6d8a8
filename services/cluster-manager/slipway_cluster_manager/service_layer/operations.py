"""Starting, stopping, restarting and deleting clusters.

A command puts the operation in flight and queues a ClusterOperationJob with it (one
transaction); the job drives the cluster's driver within the operation's deadline,
keeping and publishing its progress lines, and ends the operation `running`, `stopped` or
`error`, or, for a delete, removes the record and what is kept for it (`deleted`). No
command waits on a driver. A job for a deleted cluster, or for an operation that expired
or finished, changes nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime, timedelta
from typing import Any

from slipway_cluster_manager.domain.cluster import Action, ClusterAggregate, overdue_reason
from slipway_cluster_manager.domain.ports import (
    ClusterDriver,
    ClusterSpec,
    DriverError,
    PermanentDriverError,
)
from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_cluster_manager.service_layer.drivers import api_server_of, driver_of
from slipway_cluster_manager.settings import ClusterManagerSettings
from slipway_contracts import subjects
from slipway_contracts.commands import (
    ClusterAction,
    DeleteCluster,
    RestartCluster,
    StartCluster,
    StopCluster,
)
from slipway_contracts.entities import ClusterDriverName, ClusterOperation, MinikubeCluster
from slipway_contracts.jobs import ClusterOperationJob
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import PermanentError, RetryableError
from slipway_libs.progress import ProgressBuffer
from slipway_libs.unit_of_work import (
    ConcurrentWrite,
    UnitOfWork,
    check_if_match,
    idempotent,
    retrying,
)

log = logging.getLogger(__name__)

OPERATE = subjects.job(subjects.MINIKUBE_CLUSTER, "operate")


# --- commands -------------------------------------------------------------------------


@idempotent
async def start_cluster(deps: Dependencies, command: StartCluster) -> dict[str, Any]:
    """Queue the start of a stopped or errored cluster."""
    return await _begin(deps, command, "start")


@idempotent
async def stop_cluster(deps: Dependencies, command: StopCluster) -> dict[str, Any]:
    """Queue the stop of a running or errored cluster."""
    return await _begin(deps, command, "stop")


@idempotent
async def restart_cluster(deps: Dependencies, command: RestartCluster) -> dict[str, Any]:
    """Queue a stop-then-start of a running or errored cluster."""
    return await _begin(deps, command, "restart")


@idempotent
async def delete_cluster(deps: Dependencies, command: DeleteCluster) -> dict[str, Any]:
    """Queue the removal of a cluster from its backend (stopped first), then of its record."""
    return await _begin(deps, command, "delete")


async def _begin(deps: Dependencies, command: ClusterAction, action: Action) -> dict[str, Any]:
    async with deps.uow:
        cluster = await deps.clusters.get(command.id)
        check_if_match(cluster, command.expected_revision)
        deadline = deadline_of(deps.settings, cluster.state.driver, action)
        cluster.begin(action, operation_id=context.new_id(), deadline=deadline)
        queue_operation(deps.uow, cluster)
        return await deps.uow.commit(answer=cluster.snapshot())


def deadline_of(settings: ClusterManagerSettings, driver: str, action: Action) -> datetime:
    """When `action` on a cluster of `driver` begun now must be over."""
    return utcnow() + timedelta(seconds=settings.deadline_s(driver, action))


def new_operation(
    settings: ClusterManagerSettings, driver: str, action: Action
) -> ClusterOperation:
    """An operation that begins now (for a cluster created with `start`)."""
    return ClusterOperation(
        id=context.new_id(),
        action=action,
        started_at=utcnow(),
        deadline=deadline_of(settings, driver, action),
    )


def queue_operation(uow: UnitOfWork, cluster: ClusterAggregate) -> None:
    """Queue the job that carries out the cluster's operation in flight."""
    operation = cluster.state.operation
    assert operation is not None, "an operation is in flight"
    job = ClusterOperationJob(
        cluster_id=cluster.id, operation_id=operation.id, action=operation.action
    )
    uow.queue_job(OPERATE, job, msg_id=operation.id)


# --- the job --------------------------------------------------------------------------


async def carry_out_operation(deps: Dependencies, job: ClusterOperationJob) -> None:
    """Run the driver for the job's operation within its deadline, then end it `running`
    or `stopped`. PermanentError when it cannot succeed (or ran out of time),
    RetryableError when another attempt may."""
    cluster = await deps.clusters.find(job.cluster_id)
    if cluster is None or not cluster.is_current_operation(job.operation_id):
        return  # deleted, expired or finished meanwhile
    state, operation = cluster.state, cluster.state.operation
    assert operation is not None
    remaining = (operation.deadline - utcnow()).total_seconds()
    try:
        async with asyncio.timeout(max(remaining, 0.0)) as limit:
            api_server = await _operate(deps, state, operation)
    except TimeoutError:
        if limit.expired():
            raise PermanentError(overdue_reason(operation)) from None
        raise
    except PermanentDriverError as error:
        raise PermanentError(error.message) from None
    except DriverError as error:
        raise RetryableError(error.message) from None
    await retrying(functools.partial(_succeeded, deps, job, api_server))


async def abandon_operation(deps: Dependencies, job: ClusterOperationJob, reason: str) -> None:
    """The job gave up: the cluster goes to `error` with `reason` (if the operation is
    still the one in flight)."""
    await retrying(functools.partial(_failed, deps, job, reason))


async def _operate(
    deps: Dependencies, cluster: MinikubeCluster, operation: ClusterOperation
) -> str | None:
    """Drive the cluster's driver for one operation, keeping its progress lines; the API
    server after a start."""
    driver, spec = driver_of(deps, cluster)
    if operation.action == "delete":
        await _remove(driver, spec, cluster)
        return None
    keep = functools.partial(keep_progress, deps, cluster.id, operation.id)
    async with ProgressBuffer(keep, deps.settings.progress_flush_s) as progress:
        if operation.action in ("stop", "restart"):
            await driver.stop(spec)
        if operation.action == "restart":
            await retrying(functools.partial(_stopped_for_restart, deps, cluster.id, operation.id))
        if operation.action in ("start", "restart"):
            await driver.start(spec, functools.partial(_add_line, progress))
    if operation.action == "stop":
        return None
    return await api_server_of(deps, cluster)


async def _remove(driver: ClusterDriver, spec: ClusterSpec, cluster: MinikubeCluster) -> None:
    """Delete the cluster from its backend, stopping it first (an attached one is only let
    go of); a stop that fails does not keep it from being deleted."""
    if cluster.driver != ClusterDriverName.KUBECONFIG and cluster.status != "stopped":
        try:
            await driver.stop(spec)
        except DriverError as error:
            log.warning("stop before delete of %s failed: %s", cluster.name, error.message)
    await driver.delete(spec)


async def _add_line(progress: ProgressBuffer, line: str) -> None:
    progress.add(line)


async def keep_progress(
    deps: Dependencies, cluster_id: str, operation_id: str, lines: list[str]
) -> None:
    """Keep the newest progress lines on the operation, then publish them live."""
    try:
        await retrying(functools.partial(_record_progress, deps, cluster_id, operation_id, lines))
    except ConcurrentWrite as error:  # progress is best effort; the next batch is kept
        log.warning("progress of cluster %s not stored: %s", cluster_id, error.message)
        return
    await deps.progress.publish(cluster_id, lines, operation_id=operation_id)


async def _record_progress(
    deps: Dependencies, cluster_id: str, operation_id: str, lines: list[str]
) -> None:
    async with deps.uow:
        cluster = await deps.clusters.find(cluster_id)
        if cluster is not None:
            cluster.record_progress(operation_id, lines)
            await deps.uow.commit()


async def _stopped_for_restart(deps: Dependencies, cluster_id: str, operation_id: str) -> None:
    async with deps.uow:
        cluster = await deps.clusters.find(cluster_id)
        if cluster is not None:
            cluster.stopped_for_restart(operation_id)
            await deps.uow.commit()


async def _succeeded(deps: Dependencies, job: ClusterOperationJob, api_server: str | None) -> None:
    async with deps.uow:
        cluster = await deps.clusters.find(job.cluster_id)
        if cluster is not None:
            cluster.operation_succeeded(job.operation_id, api_server=api_server)
            if cluster.deleted:
                await deps.credentials.forget(cluster.id)
            await deps.uow.commit()


async def _failed(deps: Dependencies, job: ClusterOperationJob, reason: str) -> None:
    async with deps.uow:
        cluster = await deps.clusters.find(job.cluster_id)
        if cluster is not None:
            cluster.operation_failed(job.operation_id, reason)
            await deps.uow.commit()
