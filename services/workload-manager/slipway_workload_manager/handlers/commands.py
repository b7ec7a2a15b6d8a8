"""Request-reply handlers: one command or query in, the use case's reply out."""

from __future__ import annotations

from typing import Any

from slipway_contracts import subjects
from slipway_contracts.advice import ClusterHealthQuery, DiagnoseDeployment, RecommendResources
from slipway_contracts.commands import (
    CreateDeployment,
    CreateService,
    DeleteDeployment,
    DeleteService,
    InstallRelease,
    RepairDeployment,
    RollbackRelease,
    ScaleDeployment,
    UninstallRelease,
    UpdateDeployment,
    UpdateService,
    UpgradeRelease,
)
from slipway_contracts.queries import (
    GetEntity,
    ListEntities,
    PreviewRelease,
    ReleaseHistory,
    ReleaseManifest,
)
from slipway_libs.worker import RequestHandlers
from slipway_workload_manager.handlers.context import Deps
from slipway_workload_manager.service_layer import advice, deployments, kube_services, releases

QUEUE = "workload-manager"
handlers = RequestHandlers(QUEUE)
DEPLOYMENT = subjects.DEPLOYMENT
SERVICE = subjects.SERVICE
RELEASE = subjects.RELEASE


@handlers.subscriber(subjects.command(DEPLOYMENT, "create"))
async def create_deployment(command: CreateDeployment, deps: Deps) -> dict[str, Any]:
    """Accept a Deployment (pending) and queue its rollout."""
    return await deployments.create_deployment(deps, command)


@handlers.subscriber(subjects.command(DEPLOYMENT, "update"))
async def update_deployment(command: UpdateDeployment, deps: Deps) -> dict[str, Any]:
    """Replace a Deployment's spec and roll it out again (updating)."""
    return await deployments.update_deployment(deps, command)


@handlers.subscriber(subjects.command(DEPLOYMENT, "scale"))
async def scale_deployment(command: ScaleDeployment, deps: Deps) -> dict[str, Any]:
    """Change a Deployment's replica count (updating)."""
    return await deployments.scale_deployment(deps, command)


@handlers.subscriber(subjects.command(DEPLOYMENT, "repair"))
async def repair_deployment(command: RepairDeployment, deps: Deps) -> dict[str, Any]:
    """Apply a drifted Deployment (and its drifted Services) again as recorded."""
    return await deployments.repair_deployment(deps, command)


@handlers.subscriber(subjects.command(DEPLOYMENT, "delete"))
async def delete_deployment(command: DeleteDeployment, deps: Deps) -> dict[str, Any]:
    """Remove a Deployment from its cluster, then the record."""
    return await deployments.delete_deployment(deps, command)


@handlers.subscriber(subjects.query(DEPLOYMENT, "get"))
async def get_deployment(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await deployments.get_deployment(deps, query)


@handlers.subscriber(subjects.query(DEPLOYMENT, "list"))
async def list_deployments(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await deployments.list_deployments(deps, query)


@handlers.subscriber(subjects.command(SERVICE, "create"))
async def create_service(command: CreateService, deps: Deps) -> dict[str, Any]:
    """Accept a Service in front of a Deployment (pending) and queue its apply."""
    return await kube_services.create_service(deps, command)


@handlers.subscriber(subjects.command(SERVICE, "update"))
async def update_service(command: UpdateService, deps: Deps) -> dict[str, Any]:
    """Replace a Service's spec and apply it again (pending)."""
    return await kube_services.update_service(deps, command)


@handlers.subscriber(subjects.command(SERVICE, "delete"))
async def delete_service(command: DeleteService, deps: Deps) -> dict[str, Any]:
    """Remove a Service from its cluster, then the record."""
    return await kube_services.delete_service(deps, command)


@handlers.subscriber(subjects.query(SERVICE, "get"))
async def get_service(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await kube_services.get_service(deps, query)


@handlers.subscriber(subjects.query(SERVICE, "list"))
async def list_services(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await kube_services.list_services(deps, query)


@handlers.subscriber(subjects.command(RELEASE, "create"))
async def install_release(command: InstallRelease, deps: Deps) -> dict[str, Any]:
    """Accept a Release (pending) and queue helm's install."""
    return await releases.install_release(deps, command)


@handlers.subscriber(subjects.command(RELEASE, "update"))
async def upgrade_release(command: UpgradeRelease, deps: Deps) -> dict[str, Any]:
    """Upgrade a Release with new values, images or chart (updating)."""
    return await releases.upgrade_release(deps, command)


@handlers.subscriber(subjects.command(RELEASE, "rollback"))
async def rollback_release(command: RollbackRelease, deps: Deps) -> dict[str, Any]:
    """Roll a Release back to an earlier helm revision (updating)."""
    return await releases.rollback_release(deps, command)


@handlers.subscriber(subjects.command(RELEASE, "delete"))
async def uninstall_release(command: UninstallRelease, deps: Deps) -> dict[str, Any]:
    """Queue helm's uninstall; an uninstalled Release's record is removed."""
    return await releases.uninstall_release(deps, command)


@handlers.subscriber(subjects.query(RELEASE, "get"))
async def get_release(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await releases.get_release(deps, query)


@handlers.subscriber(subjects.query(RELEASE, "list"))
async def list_releases(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await releases.list_releases(deps, query)


@handlers.subscriber(subjects.query(RELEASE, "history"))
async def release_history(query: ReleaseHistory, deps: Deps) -> dict[str, Any]:
    """helm's revisions of a Release, oldest first."""
    return await releases.release_history(deps, query)


@handlers.subscriber(subjects.query(RELEASE, "manifest"))
async def release_manifest(query: ReleaseManifest, deps: Deps) -> dict[str, Any]:
    """The manifest of a Release's current revision (`helm get manifest`)."""
    return await releases.release_manifest(deps, query)


@handlers.subscriber(subjects.query(RELEASE, "preview"))
async def preview_release(query: PreviewRelease, deps: Deps) -> dict[str, Any]:
    """What an install or upgrade would change, changing nothing (`dry_run=true`)."""
    return await releases.preview_release(deps, query)


@handlers.subscriber(subjects.DIAGNOSE_DEPLOYMENT)
async def diagnose_deployment(query: DiagnoseDeployment, deps: Deps) -> dict[str, Any]:
    """Why a Deployment is not healthy: causes, evidence, fixes and commands."""
    return await advice.diagnose_deployment(deps, query)


@handlers.subscriber(subjects.RECOMMEND_RESOURCES)
async def recommend_resources(query: RecommendResources, deps: Deps) -> dict[str, Any]:
    """Requests, limits and replicas for a Deployment from its observed usage."""
    return await advice.recommend_resources(deps, query)


@handlers.subscriber(subjects.CLUSTER_HEALTH)
async def cluster_health(query: ClusterHealthQuery, deps: Deps) -> dict[str, Any]:
    """A health summary of every entity on one cluster, problems worst first."""
    return await advice.cluster_health(deps, query)
