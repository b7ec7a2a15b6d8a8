"""What the workload-manager's use cases work with, built once in `app.py` (handlers get it
as FastStream `Context("dependencies")`; unit tests build it from in-memory fakes)."""

from __future__ import annotations

from dataclasses import dataclass

from slipway_libs.unit_of_work import Repository, UnitOfWork
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.ports import (
    ChartSource,
    Helm,
    Leftovers,
    Progress,
    Projections,
    PullLogins,
    WorkloadCluster,
)
from slipway_workload_manager.domain.release import ReleaseAggregate
from slipway_workload_manager.service_layer.cluster_access import ClusterConnections
from slipway_workload_manager.settings import WorkloadManagerSettings


@dataclass(frozen=True)
class Dependencies:
    """The records (Deployments, Kubernetes Services and Releases), the projections of the
    other services' entities, the way to the clusters, helm and the charts' files, the
    progress channels and the unit of work (one serves every task: each `async with uow:`
    is the opening task's own transaction)."""

    settings: WorkloadManagerSettings
    uow: UnitOfWork
    deployments: Repository[DeploymentAggregate]
    kube_services: Repository[KubeServiceAggregate]
    releases: Repository[ReleaseAggregate]
    projections: Projections
    leftovers: Leftovers
    cluster: WorkloadCluster
    connections: ClusterConnections
    deployment_progress: Progress
    kube_service_progress: Progress
    helm: Helm
    charts: ChartSource
    release_progress: Progress
    pull_logins: PullLogins
