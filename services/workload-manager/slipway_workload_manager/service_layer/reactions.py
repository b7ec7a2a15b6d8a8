"""Reactions to the other services' entities changing: a cluster that stops or breaks
fails its workloads and releases, and its return takes them there again (a release is
upgraded again with what it records, which takes its workloads along); a failed image is
noted on the Deployments that run it.

Reactions are decided from the state as it is now (the projected cluster or image, the
recorded workloads), not from the event that woke them: a redelivered or missed event
changes nothing, and the reconcile loop runs the same reactions as a safety net. Each
workload is decided on the copy read first (no transaction when nothing changes) and
changed, decided again, in a unit of work of its own.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from slipway_contracts.entities import DeploymentStatus, ReleaseStatus, ServiceStatus
from slipway_libs import context
from slipway_libs.unit_of_work import Repository, retrying
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.projections import ProjectedCluster, ProjectedImage
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import (
    endpoints_deadline,
    queue_apply,
    queue_release,
    queue_rollout,
    release_deadline,
    rollout_deadline,
)


async def react_to_cluster(
    deps: Dependencies, cluster_id: str, cluster: ProjectedCluster | None
) -> int:
    """Fail the workloads of a cluster that is down (`cluster` as projected, None when it
    no longer exists); take them there again when it runs. How many workloads changed."""
    outage = rules.cluster_outage(cluster, cluster_id)
    if outage is None:
        return await _cluster_back(deps, cluster_id)
    deps.connections.forget(cluster_id)
    changed = 0
    repositories: tuple[Repository[Any], ...] = (
        deps.deployments,
        deps.kube_services,
        deps.releases,
    )
    for repository in repositories:
        for item in await repository.matching(cluster_id=cluster_id):
            if item.cluster_down(outage):
                changed += await retrying(partial(_cluster_down, deps, repository, item.id, outage))
    return changed


async def react_to_image(deps: Dependencies, image_id: str) -> int:
    """Note a failed image on the Deployments that run it (they keep running), and clear
    the note when it is built again. How many Deployments changed."""
    image = await deps.projections.image(image_id)
    if image is None:
        return 0
    changed = 0
    for deployment in await deps.deployments.matching(image_id=image_id):
        if deployment.image_changed(image):
            changed += await retrying(partial(_image_changed, deps, deployment.id, image))
    return changed


async def _cluster_back(deps: Dependencies, cluster_id: str) -> int:
    """Roll out (apply, upgrade) again what the cluster's outage failed. A release's own
    workloads go with their release (Slipway's manifests never replace the chart's)."""
    changed = 0
    failed_releases = await deps.releases.matching(
        cluster_id=cluster_id, status=ReleaseStatus.FAILED
    )
    for release in failed_releases:
        if rules.failed_by_outage(release.state.reason):
            changed += await retrying(partial(_upgrade_again, deps, release.id))
    failed_deployments = await deps.deployments.matching(
        cluster_id=cluster_id, status=DeploymentStatus.FAILED, release_id=None
    )
    for deployment in failed_deployments:
        if rules.failed_by_outage(deployment.state.reason):
            changed += await retrying(partial(_roll_out_again, deps, deployment.id))
    failed_services = await deps.kube_services.matching(
        cluster_id=cluster_id, status=ServiceStatus.FAILED, release_id=None
    )
    for kube_service in failed_services:
        if rules.failed_by_outage(kube_service.state.reason):
            changed += await retrying(partial(_apply_again, deps, kube_service.id))
    return changed


async def _cluster_down(
    deps: Dependencies, repository: Repository[Any], item_id: str, outage: str
) -> bool:
    async with deps.uow:
        item = await repository.find(item_id)
        if item is None or not item.cluster_down(outage):
            return False
        return await deps.uow.commit(answer=True)


async def _upgrade_again(deps: Dependencies, release_id: str) -> bool:
    async with deps.uow:
        release = await deps.releases.find(release_id)
        if release is None:
            return False
        deadline = release_deadline(deps.settings, release.state.timeout_seconds)
        if not release.cluster_back(operation_id=context.new_id(), deadline=deadline):
            return False
        queue_release(deps.uow, release, "upgrade")
        return await deps.uow.commit(answer=True)


async def _roll_out_again(deps: Dependencies, deployment_id: str) -> bool:
    async with deps.uow:
        deployment = await deps.deployments.find(deployment_id)
        if deployment is None:
            return False
        deadline = rollout_deadline(deps.settings, deployment.state.progress_deadline_seconds)
        if not deployment.cluster_back(rollout_id=context.new_id(), deadline=deadline):
            return False
        queue_rollout(deps.uow, deployment)
        return await deps.uow.commit(answer=True)


async def _apply_again(deps: Dependencies, kube_service_id: str) -> bool:
    async with deps.uow:
        kube_service = await deps.kube_services.find(kube_service_id)
        if kube_service is None:
            return False
        deadline = endpoints_deadline(deps.settings)
        if not kube_service.cluster_back(apply_id=context.new_id(), deadline=deadline):
            return False
        queue_apply(deps.uow, kube_service)
        return await deps.uow.commit(answer=True)


async def _image_changed(deps: Dependencies, deployment_id: str, image: ProjectedImage) -> bool:
    async with deps.uow:
        deployment = await deps.deployments.find(deployment_id)
        if deployment is None or not deployment.image_changed(image):
            return False
        return await deps.uow.commit(answer=True)
