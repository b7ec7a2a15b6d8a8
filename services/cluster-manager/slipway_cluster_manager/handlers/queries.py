"""Request-reply handlers of queries: one query in, the answer out."""

from __future__ import annotations

from typing import Any

from slipway_cluster_manager.handlers.context import Deps
from slipway_cluster_manager.service_layer import alerts, clusters
from slipway_contracts import subjects
from slipway_contracts.queries import GetEntity, GetKubeconfig, ListEntities
from slipway_libs.worker import RequestHandlers

QUEUE = "cluster-manager"
handlers = RequestHandlers(QUEUE)
CLUSTER = subjects.MINIKUBE_CLUSTER


@handlers.subscriber(subjects.query(CLUSTER, "get"))
async def get_cluster(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await clusters.get_cluster(deps, query)


@handlers.subscriber(subjects.query(CLUSTER, "list"))
async def list_clusters(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await clusters.list_clusters(deps, query)


@handlers.subscriber(subjects.query(CLUSTER, "kubeconfig"))
async def cluster_kubeconfig(query: GetKubeconfig, deps: Deps) -> dict[str, Any]:
    return await clusters.cluster_kubeconfig(deps, query)


@handlers.subscriber(subjects.query(subjects.ALERT, "get"))
async def get_alert(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await alerts.get_alert(deps, query)


@handlers.subscriber(subjects.query(subjects.ALERT, "list"))
async def list_alerts(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await alerts.list_alerts(deps, query)
