"""The workload-manager's advisors: a Deployment's diagnosis, its resource
recommendation and a cluster's health. Read-only: they write nothing and publish nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slipway_contracts.advice import (
    ClusterHealthQuery,
    DeploymentDiagnosis,
    DiagnoseDeployment,
    RecommendResources,
)
from slipway_contracts.entities import Deployment
from slipway_libs.errors import NotFound
from slipway_libs.unit_of_work import ok
from slipway_workload_manager.domain import advice
from slipway_workload_manager.domain.ports import PodReport
from slipway_workload_manager.service_layer import usage
from slipway_workload_manager.service_layer.cluster_calls import READ_FAILURES
from slipway_workload_manager.service_layer.dependencies import Dependencies

log = logging.getLogger(__name__)
# The cluster gets this long to list the pods and events, then the advice goes without.
POD_REPORT_TIMEOUT_S = 5.0


async def _pod_report(deps: Dependencies, deployment: Deployment, notes: list[str]) -> PodReport:
    """The Deployment's pods and their events; empty (with a note) when the cluster cannot
    be asked now."""
    cluster = await deps.projections.cluster(deployment.cluster_id)
    if cluster is None or not cluster.running:
        notes.append("the cluster is not running: its pods and events were not looked at")
        return PodReport()
    try:
        async with asyncio.timeout(POD_REPORT_TIMEOUT_S):
            access = await deps.connections.access(cluster)
            return await deps.cluster.pod_report(access, deployment.namespace, deployment.id)
    except READ_FAILURES as exc:
        notes.append(f"the cluster did not list the pods and events: {exc}")
        return PodReport()


async def diagnose_deployment(deps: Dependencies, query: DiagnoseDeployment) -> dict[str, Any]:
    """Why a Deployment is not healthy: each cause with its evidence, fix and command."""
    deployment = (await deps.deployments.get(query.id)).state
    notes: list[str] = []
    report = await _pod_report(deps, deployment, notes)
    image = await deps.projections.image(deployment.image_id) if deployment.image_id else None
    observed = advice.Observed(
        image=image,
        cluster=await deps.projections.cluster(deployment.cluster_id),
        pods=report.pods,
        events=report.events,
        services=[s.state for s in await deps.kube_services.matching(deployment_id=query.id)],
        notes=notes,
    )
    diagnoses = advice.diagnose(deployment, observed)
    healthy = not diagnoses and deployment.status == "running"
    answer = DeploymentDiagnosis(
        id=deployment.id,
        name=deployment.name,
        namespace=deployment.namespace,
        status=str(deployment.status),
        healthy=healthy,
        diagnoses=diagnoses,
        notes=notes,
    )
    return ok(answer.model_dump(mode="json"))


async def recommend_resources(deps: Dependencies, query: RecommendResources) -> dict[str, Any]:
    """Requests, limits and replicas from the pods' observed usage and restarts."""
    deployment = (await deps.deployments.get(query.id)).state
    observed = await usage.current_usage(deps, deployment.model_dump(mode="json"))
    report = await _pod_report(deps, deployment, [])
    answer = advice.recommend(deployment, observed, report.pods)
    return ok(answer.model_dump(mode="json"))


async def cluster_health(deps: Dependencies, query: ClusterHealthQuery) -> dict[str, Any]:
    """Every Deployment, Service and Release on the cluster, problems worst first."""
    cluster = await deps.projections.cluster(query.id)
    if cluster is None:
        raise NotFound(f"minikube_cluster '{query.id}' does not exist")
    health = advice.cluster_health(
        cluster,
        [d.state for d in await deps.deployments.matching(cluster_id=query.id)],
        [s.state for s in await deps.kube_services.matching(cluster_id=query.id)],
        [r.state for r in await deps.releases.matching(cluster_id=query.id)],
    )
    return ok(health.model_dump(mode="json"))
