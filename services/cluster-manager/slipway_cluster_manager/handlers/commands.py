"""Request-reply handlers of commands: one command in, one use case, its reply out."""

from __future__ import annotations

from typing import Any

from slipway_cluster_manager.handlers.context import Deps
from slipway_cluster_manager.service_layer import alerts, clusters, image_loading, operations
from slipway_contracts import subjects
from slipway_contracts.commands import (
    CreateCluster,
    DeleteCluster,
    LoadImage,
    RecordAlerts,
    RestartCluster,
    StartCluster,
    StopCluster,
)
from slipway_libs.worker import RequestHandlers

QUEUE = "cluster-manager"
handlers = RequestHandlers(QUEUE)
CLUSTER = subjects.MINIKUBE_CLUSTER


@handlers.subscriber(subjects.command(CLUSTER, "create"))
async def create_cluster(command: CreateCluster, deps: Deps) -> dict[str, Any]:
    """Register a cluster, stopped; with `start` its start is queued too."""
    return await clusters.create_cluster(deps, command)


@handlers.subscriber(subjects.command(CLUSTER, "start"))
async def start_cluster(command: StartCluster, deps: Deps) -> dict[str, Any]:
    """Queue the start of a stopped or errored cluster."""
    return await operations.start_cluster(deps, command)


@handlers.subscriber(subjects.command(CLUSTER, "stop"))
async def stop_cluster(command: StopCluster, deps: Deps) -> dict[str, Any]:
    """Queue the stop of a running or errored cluster."""
    return await operations.stop_cluster(deps, command)


@handlers.subscriber(subjects.command(CLUSTER, "restart"))
async def restart_cluster(command: RestartCluster, deps: Deps) -> dict[str, Any]:
    """Queue a stop-then-start of a running or errored cluster."""
    return await operations.restart_cluster(deps, command)


@handlers.subscriber(subjects.command(CLUSTER, "delete"))
async def delete_cluster(command: DeleteCluster, deps: Deps) -> dict[str, Any]:
    """Queue the removal of a cluster from its backend, then of its record."""
    return await operations.delete_cluster(deps, command)


@handlers.subscriber(subjects.command(CLUSTER, "load_image"))
async def load_image(command: LoadImage, deps: Deps) -> dict[str, Any]:
    """Make a local image available to a running cluster."""
    return await image_loading.load_image(deps, command)


@handlers.subscriber(subjects.command(subjects.ALERT, "record"))
async def record_alerts(command: RecordAlerts, deps: Deps) -> dict[str, Any]:
    """Record the alerts Alertmanager delivered (firing or resolved), with their events."""
    return await alerts.record_alerts(deps, command)
