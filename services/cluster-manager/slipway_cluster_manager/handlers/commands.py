"""Request-reply handlers: one command or query in, the service's reply out."""

from __future__ import annotations

from typing import Annotated, Any

from faststream import Context
from faststream.nats import NatsRouter

from slipway_cluster_manager.service import ClusterService
from slipway_contracts import subjects
from slipway_contracts.commands import (
    CreateCluster,
    DeleteCluster,
    LoadImage,
    RestartCluster,
    StartCluster,
    StopCluster,
)
from slipway_contracts.queries import GetEntity, GetKubeconfig, ListEntities

router = NatsRouter()
QUEUE = "cluster-manager"
Clusters = Annotated[ClusterService, Context("clusters")]
CLUSTER = subjects.MINIKUBE_CLUSTER


@router.subscriber(subjects.command(CLUSTER, "create"), queue=QUEUE)
async def create_cluster(command: CreateCluster, clusters: Clusters) -> dict[str, Any]:
    """Register a cluster, stopped; with `start` its start is queued too."""
    return await clusters.create(command)


@router.subscriber(subjects.command(CLUSTER, "start"), queue=QUEUE)
async def start_cluster(command: StartCluster, clusters: Clusters) -> dict[str, Any]:
    """Queue the start of a stopped or errored cluster."""
    return await clusters.start(command)


@router.subscriber(subjects.command(CLUSTER, "stop"), queue=QUEUE)
async def stop_cluster(command: StopCluster, clusters: Clusters) -> dict[str, Any]:
    """Queue the stop of a running or errored cluster."""
    return await clusters.stop(command)


@router.subscriber(subjects.command(CLUSTER, "restart"), queue=QUEUE)
async def restart_cluster(command: RestartCluster, clusters: Clusters) -> dict[str, Any]:
    """Queue a stop-then-start of a running or errored cluster."""
    return await clusters.restart(command)


@router.subscriber(subjects.command(CLUSTER, "delete"), queue=QUEUE)
async def delete_cluster(command: DeleteCluster, clusters: Clusters) -> dict[str, Any]:
    """Remove a cluster from its backend, then its record."""
    return await clusters.delete(command)


@router.subscriber(subjects.command(CLUSTER, "load_image"), queue=QUEUE)
async def load_image(command: LoadImage, clusters: Clusters) -> dict[str, Any]:
    """Make a local image available to a running cluster."""
    return await clusters.load_image(command)


@router.subscriber(subjects.query(CLUSTER, "get"), queue=QUEUE)
async def get_cluster(query: GetEntity, clusters: Clusters) -> dict[str, Any]:
    return await clusters.get(query)


@router.subscriber(subjects.query(CLUSTER, "list"), queue=QUEUE)
async def list_clusters(query: ListEntities, clusters: Clusters) -> dict[str, Any]:
    return await clusters.list(query)


@router.subscriber(subjects.query(CLUSTER, "kubeconfig"), queue=QUEUE)
async def cluster_kubeconfig(query: GetKubeconfig, clusters: Clusters) -> dict[str, Any]:
    return await clusters.kubeconfig(query)
