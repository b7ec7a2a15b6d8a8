"""Reaching a cluster through its driver: the driver and what it needs to know (with the
cluster's credentials opened only where the driver needs them), and what a driver failure
means to the client of a command."""

from __future__ import annotations

import dataclasses
import logging

from slipway_cluster_manager.domain.cluster import INLINE_KUBECONFIG
from slipway_cluster_manager.domain.ports import (
    IMAGE_NOT_FOUND,
    ClusterDriver,
    ClusterSpec,
    DriverError,
    InvalidClusterSpec,
)
from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_contracts.entities import MinikubeCluster
from slipway_libs.errors import Conflict, InvalidInput, SlipwayError, Unavailable

log = logging.getLogger(__name__)


def driver_of(deps: Dependencies, cluster: MinikubeCluster) -> tuple[ClusterDriver, ClusterSpec]:
    """The cluster's driver and its spec, without credentials (enough to start, stop,
    delete and load images); the cluster's files live in clusters_dir/<name>."""
    extra: dict[str, str] = {}
    if cluster.kubeconfig:
        extra["kubeconfig"] = cluster.kubeconfig
    if cluster.context:
        extra["context"] = cluster.context
    spec = ClusterSpec(
        name=cluster.name,
        driver=str(cluster.driver),
        cpus=cluster.cpus,
        memory_mb=cluster.memory,
        disk_size_mb=cluster.disk_size,
        kubernetes_version=cluster.kubernetes_version,
        state_dir=deps.settings.clusters_dir / cluster.name,
        extra=extra,
    )
    return deps.drivers[str(cluster.driver)], spec


async def driver_with_credentials(
    deps: Dependencies, cluster: MinikubeCluster
) -> tuple[ClusterDriver, ClusterSpec]:
    """The cluster's driver and its spec with its kept credentials opened (to probe it or
    hand out its kubeconfig); PermanentDriverError when they cannot be opened."""
    driver, spec = driver_of(deps, cluster)
    if cluster.kubeconfig == INLINE_KUBECONFIG:
        kubeconfig = await deps.credentials.kubeconfig(cluster.id)
        spec = dataclasses.replace(spec, kubeconfig_data=kubeconfig)
    return driver, spec


def refusal(error: DriverError) -> SlipwayError:
    """The reply error for a driver failure during a command (not a job)."""
    if isinstance(error, InvalidClusterSpec):
        return InvalidInput.field(error.field, error.message.split(": ", 1)[-1])
    if error.code == IMAGE_NOT_FOUND:
        return InvalidInput.field("image", error.message)
    if error.retryable:
        return Unavailable(error.message)
    return Conflict(error.message, {"driver_code": error.code} if error.code else None)


async def api_server_of(deps: Dependencies, cluster: MinikubeCluster) -> str | None:
    """The API server URL of the cluster's kubeconfig (None if it cannot be read)."""
    try:
        driver, spec = await driver_with_credentials(deps, cluster)
        return deps.kubeconfigs.api_server(await driver.kubeconfig(spec))
    except DriverError as error:
        log.warning("no kubeconfig for cluster %s: %s", cluster.name, error.message)
        return None
