"""The steps every job that works on a cluster takes (a rollout, an apply, a helm
operation), with their failures classified for `run_job`: the cluster it works on (not
running: permanent, the outage is the reason), its kubeconfig, an image handed over, and one
call on its API server."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from slipway_libs.errors import PermanentError, RetryableError, SlipwayError
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)
from slipway_workload_manager.domain.ports import ClusterAccess, ClusterRejected, ClusterUnreachable
from slipway_workload_manager.domain.projections import ProjectedCluster
from slipway_workload_manager.service_layer.dependencies import Dependencies

T = TypeVar("T")
# What a read of a cluster (its pods' usage, their events) can fail with; the answer then
# goes without it.
READ_FAILURES = (
    TimeoutError,
    ClusterUnreachable,
    ClusterRejected,
    ClusterManagerRefused,
    ClusterManagerUnavailable,
    SlipwayError,
)
# The cluster-manager's driver code for a cluster that cannot take local images.
UNSUPPORTED = "UNSUPPORTED"


async def cluster_to_work_on(deps: Dependencies, cluster_id: str) -> ProjectedCluster:
    """The running cluster, or PermanentError with the outage as the reason (the work is
    taken there again when the cluster returns)."""
    cluster = await deps.projections.cluster(cluster_id)
    outage = rules.cluster_outage(cluster, cluster_id)
    if outage is not None or cluster is None:
        raise PermanentError(outage)
    return cluster


async def access_to(deps: Dependencies, cluster: ProjectedCluster) -> ClusterAccess:
    """The cluster's kubeconfig from the cluster-manager (RetryableError when it cannot
    give it now)."""
    try:
        return await deps.connections.access(cluster)
    except (ClusterManagerUnavailable, ClusterManagerRefused) as exc:
        raise RetryableError(
            f"no kubeconfig for cluster '{cluster.name}' from the cluster-manager: {exc}"
        ) from exc


async def hand_image(
    deps: Dependencies, cluster: ProjectedCluster, reference: str, digest: str | None
) -> str:
    """Hand a local image to the cluster (once per digest); the progress line saying what
    became of it. A cluster that cannot take images (an attached one) is left to pull it
    itself; one that refuses the image fails the work for good."""
    try:
        loaded = await deps.connections.hand_image(cluster, reference, digest)
    except ClusterManagerUnavailable as exc:
        raise RetryableError(f"image load: {exc}") from exc
    except ClusterManagerRefused as exc:
        if exc.driver_code == UNSUPPORTED:
            return f"image {reference} not loaded: {exc.message}"
        if exc.code == "conflict" and exc.driver_code is None:
            # The cluster is not running (any more): its event is on the way.
            raise RetryableError(f"image load failed: {exc.message}") from exc
        raise PermanentError(f"image load failed: {exc.message}") from exc
    return f"image {reference} {'loaded' if loaded else 'already loaded'}"


async def in_cluster(
    deps: Dependencies, cluster: ProjectedCluster, what: str, call: Awaitable[T]
) -> T:
    """Await one call on the cluster, classifying its failure for the job."""
    try:
        return await call
    except ClusterUnreachable as exc:
        deps.connections.forget(cluster.id)
        raise RetryableError(f"could not reach cluster '{cluster.name}': {exc}") from exc
    except ClusterRejected as exc:
        raise PermanentError(f"cluster '{cluster.name}' refused the {what}: {exc.message}") from exc
