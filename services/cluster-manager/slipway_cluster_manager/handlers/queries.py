"""Request-reply handlers of queries: one query in, the answer out."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsRouter

from slipway_cluster_manager.handlers.context import Deps
from slipway_cluster_manager.service_layer import clusters
from slipway_contracts import subjects
from slipway_contracts.queries import GetEntity, GetKubeconfig, ListEntities

router = NatsRouter()
QUEUE = "cluster-manager"
CLUSTER = subjects.MINIKUBE_CLUSTER


@router.subscriber(subjects.query(CLUSTER, "get"), queue=QUEUE)
async def get_cluster(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await clusters.get_cluster(deps, query)


@router.subscriber(subjects.query(CLUSTER, "list"), queue=QUEUE)
async def list_clusters(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await clusters.list_clusters(deps, query)


@router.subscriber(subjects.query(CLUSTER, "kubeconfig"), queue=QUEUE)
async def cluster_kubeconfig(query: GetKubeconfig, deps: Deps) -> dict[str, Any]:
    return await clusters.cluster_kubeconfig(deps, query)
