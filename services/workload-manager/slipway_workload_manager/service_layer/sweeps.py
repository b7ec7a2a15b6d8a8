"""The deadline sweep: no workload or release stays in a transitional state forever (a
rollout whose job died, an apply nobody follows any more, a helm operation that never
ended)."""

from __future__ import annotations

from slipway_libs.unit_of_work import expire_overdue
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.release import ReleaseAggregate
from slipway_workload_manager.service_layer.dependencies import Dependencies


async def sweep_deadlines(deps: Dependencies) -> int:
    """Fail every rollout (`pending`, `updating`), every Kubernetes Service apply
    (`pending`) and every release install, upgrade or rollback (`pending`, `updating`)
    still going past its deadline; how many it failed."""
    rolling = list(DeploymentAggregate.in_flight)
    expired = await expire_overdue(deps.uow, deps.deployments, status=rolling)
    applying = list(KubeServiceAggregate.in_flight)
    expired += await expire_overdue(deps.uow, deps.kube_services, status=applying)
    operating = list(ReleaseAggregate.in_flight)
    return expired + await expire_overdue(deps.uow, deps.releases, status=operating)
