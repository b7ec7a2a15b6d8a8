"""What a running Deployment's pods use, read from its cluster's metrics API when asked
(`GET /api/deployments/{id}`: `usage`) and, every `usage_interval_s`, for the metrics.
Usage is live: it is never stored, and no event tells of it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slipway_contracts.entities import DeploymentStatus, DeploymentUsage
from slipway_libs.aggregate import utcnow
from slipway_workload_manager.domain.ports import Manifest
from slipway_workload_manager.domain.usage import usage_of
from slipway_workload_manager.service_layer.cluster_calls import READ_FAILURES
from slipway_workload_manager.service_layer.dependencies import Dependencies

log = logging.getLogger(__name__)
# A GET waits this long for the cluster's metrics at most, then answers without them.
USAGE_TIMEOUT_S = 3.0
MEASURED = (DeploymentStatus.RUNNING, DeploymentStatus.UPDATING)
Record = Callable[[dict[str, Any], DeploymentUsage | None], None]


async def current_usage(deps: Dependencies, deployment: dict[str, Any]) -> DeploymentUsage | None:
    """The usage of a running (or updating) Deployment's pods; None when it has none to
    show, its cluster is not running, or the cluster serves no metrics API or is slow."""
    if deployment.get("status") not in MEASURED:
        return None
    cluster = await deps.projections.cluster(str(deployment["cluster_id"]))
    if cluster is None or cluster.status != "running":
        return None
    try:
        async with asyncio.timeout(USAGE_TIMEOUT_S):
            access = await deps.connections.access(cluster)
            metrics = await deps.cluster.pod_metrics(
                access, str(deployment["namespace"]), str(deployment["id"])
            )
    except READ_FAILURES as exc:
        log.info("no usage for the deployment", extra={"id": deployment["id"], "error": str(exc)})
        return None
    return None if metrics is None else usage_of(metrics, utcnow())


async def with_usage(deps: Dependencies, reply: dict[str, Any]) -> dict[str, Any]:
    """A deployment's reply with its current `usage` set (when it has one)."""
    usage = await current_usage(deps, reply["data"])
    if usage is not None:
        reply["data"] = {**reply["data"], "usage": usage.model_dump(mode="json")}
    return reply


async def record_usage(deps: Dependencies, record: Record) -> None:
    """Read the usage of every running Deployment and `record` it (the metrics): one read
    of the metrics API per cluster and namespace, however many Deployments it holds."""
    spaces: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for deployment in await deps.deployments.matching(status=DeploymentStatus.RUNNING):
        snapshot = deployment.snapshot()
        where = (str(snapshot["cluster_id"]), str(snapshot["namespace"]))
        spaces.setdefault(where, []).append(snapshot)
    for (cluster_id, namespace), snapshots in spaces.items():
        by_id = await _namespace_metrics(deps, cluster_id, namespace)
        now = utcnow()
        for snapshot in snapshots:
            metrics = None if by_id is None else by_id.get(str(snapshot["id"]), [])
            record(snapshot, None if metrics is None else usage_of(metrics, now))


async def _namespace_metrics(
    deps: Dependencies, cluster_id: str, namespace: str
) -> dict[str, list[Manifest]] | None:
    """The PodMetrics of Slipway's pods in a namespace by Deployment id; None when the
    cluster is not running, serves no metrics API or is slow."""
    cluster = await deps.projections.cluster(cluster_id)
    if cluster is None or cluster.status != "running":
        return None
    try:
        async with asyncio.timeout(USAGE_TIMEOUT_S):
            access = await deps.connections.access(cluster)
            return await deps.cluster.namespace_pod_metrics(access, namespace)
    except READ_FAILURES as exc:
        log.info(
            "no usage for the namespace",
            extra={"cluster_id": cluster_id, "namespace": namespace, "error": str(exc)},
        )
        return None
