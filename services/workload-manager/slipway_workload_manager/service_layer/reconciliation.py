"""The reconcile loop: every workload compared with its live object (status and drift),
the reactions to each cluster's state run again, and the objects of deleted workloads
removed from their cluster.

A release's workloads are followed the same way (their live status, failed with the
cluster's reason, drift from what the release rendered), but found by name (helm labels
them, not Slipway) and never applied again from here: their spec is the chart's. A deployed
release one of whose workloads failed is failed with that workload's reason.

The records are read before the cluster: what the cluster says is then newer than each
record, and it is written only to a record that has not changed since (a rollout that
finished meanwhile is not overwritten by what the cluster said before).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import replace
from datetime import datetime
from functools import partial

from slipway_contracts.entities import Deployment, DeploymentStatus, ReleaseStatus, ServiceStatus
from slipway_libs.unit_of_work import retrying
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.drift import deployment_drift, service_drift
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.manifests import objects_of
from slipway_workload_manager.domain.ports import (
    ClusterAccess,
    ClusterRejected,
    ClusterUnreachable,
    Leftover,
    Manifest,
    RolloutObservation,
    ServiceObservation,
)
from slipway_workload_manager.domain.projections import ProjectedCluster
from slipway_workload_manager.domain.rollout import interpret_deployment
from slipway_workload_manager.service_layer import reactions
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import endpoints_deadline

log = logging.getLogger(__name__)

MISSING_DEPLOYMENT = RolloutObservation(phase="missing")
MISSING_SERVICE = ServiceObservation(phase="missing")
CLUSTER_TROUBLE = (
    ClusterUnreachable,
    ClusterRejected,
    ClusterManagerUnavailable,
    ClusterManagerRefused,
)


async def reconcile(deps: Dependencies) -> None:
    """One round over every cluster that has workloads, releases (or leftovers)."""
    clusters = (
        await deps.deployments.distinct("cluster_id")
        | await deps.kube_services.distinct("cluster_id")
        | await deps.releases.distinct("cluster_id")
        | await deps.leftovers.clusters()
    )
    for cluster_id in sorted(str(c) for c in clusters):
        cluster = await deps.projections.cluster(cluster_id)
        await reactions.react_to_cluster(deps, cluster_id, cluster)
        if cluster is None or not cluster.running:
            continue
        try:
            await reconcile_cluster(deps, cluster)
        except CLUSTER_TROUBLE as exc:
            deps.connections.forget(cluster_id)
            log.warning(
                "cannot reconcile cluster", extra={"cluster": cluster.name, "error": str(exc)}
            )


async def reconcile_cluster(deps: Dependencies, cluster: ProjectedCluster) -> None:
    """Compare the running cluster's live objects with the records: status, drift,
    leftovers of deleted workloads (`observe_concurrency` objects at a time)."""
    running = await deps.deployments.matching(
        cluster_id=cluster.id, status=DeploymentStatus.RUNNING
    )
    kube_services = await deps.kube_services.matching(cluster_id=cluster.id)
    access = await deps.connections.access(cluster)
    live_deployments = await deps.cluster.managed(access, "Deployment")
    live_services = await deps.cluster.managed(access, "Service")
    await _remove_leftovers(deps, cluster, access, live_deployments, live_services)
    limit = asyncio.Semaphore(deps.settings.observe_concurrency)
    await asyncio.gather(
        *(
            _bounded(limit, check_deployment(deps, access, d, live_deployments.get(d.id)))
            for d in running
        ),
        *(
            _bounded(
                limit,
                check_kube_service(deps, access, s, s.id in live_services or bool(s.release_id)),
            )
            for s in kube_services
        ),
    )
    await follow_releases(deps, cluster)


async def check_deployment(
    deps: Dependencies,
    access: ClusterAccess,
    deployment: DeploymentAggregate,
    live: Manifest | None,
) -> None:
    """Follow a running Deployment's live object: its counts, `failed` with the cluster's
    reason, or drift (deleted or changed behind Slipway's back)."""
    state = deployment.state
    observation = interpret_deployment(live) if live is not None else MISSING_DEPLOYMENT
    # A release's Deployment is not among Slipway's labelled objects: read it by name. A
    # failed one: ask the pods and their events for the reason.
    if deployment.release_id is not None or observation.phase == "failed":
        observation = await deps.cluster.observe_deployment(access, state.namespace, state.name)
    drift = deployment_drift(state, observation, await _pushed_image(deps, state, observation))
    if deployment.follow_live(observation, drift):
        await retrying(
            partial(_deployment_seen, deps, state.id, state.revision, observation, drift)
        )


async def _pushed_image(
    deps: Dependencies, state: Deployment, observation: RolloutObservation
) -> str | None:
    """The registry reference the Deployment's image runs as, when it was pushed; looked up
    only when the live image is not the recorded one."""
    if observation.live_image in (None, state.image) or not state.image_id:
        return None
    image = await deps.projections.image(state.image_id)
    return image.pushed_reference if image is not None and image.reference == state.image else None


async def check_kube_service(
    deps: Dependencies, access: ClusterAccess, kube_service: KubeServiceAggregate, live: bool
) -> None:
    """Follow a Kubernetes Service's live object: its endpoints (one that lost them fails
    unless they come back in `service_deadline_s`), or drift."""
    state = kube_service.state
    if live:
        observation = await deps.cluster.observe_service(access, state.namespace, state.name)
    else:
        observation = MISSING_SERVICE
    if observation.phase == "missing" and state.status != ServiceStatus.ACTIVE:
        return  # not applied yet, or failed before it was: nothing drifted
    drift = service_drift(state, observation)
    deadline = endpoints_deadline(deps.settings)
    if kube_service.follow_live(observation, drift, deadline=deadline):
        await retrying(
            partial(
                _kube_service_seen, deps, state.id, state.revision, observation, drift, deadline
            )
        )


async def _bounded(limit: asyncio.Semaphore, work: Awaitable[None]) -> None:
    async with limit:
        await work


async def _deployment_seen(
    deps: Dependencies,
    deployment_id: str,
    revision: int,
    observation: RolloutObservation,
    drift: str | None,
) -> None:
    async with deps.uow:
        deployment = await deps.deployments.find(deployment_id)
        if deployment is None or deployment.revision != revision:
            return  # changed since it was read: the next round looks again
        deployment.follow_live(observation, drift)
        await deps.uow.commit()


async def _kube_service_seen(
    deps: Dependencies,
    kube_service_id: str,
    revision: int,
    observation: ServiceObservation,
    drift: str | None,
    deadline: datetime,
) -> None:
    async with deps.uow:
        kube_service = await deps.kube_services.find(kube_service_id)
        if kube_service is None or kube_service.revision != revision:
            return  # changed since it was read: the next round looks again
        kube_service.follow_live(observation, drift, deadline=deadline)
        await deps.uow.commit()


async def _remove_leftovers(
    deps: Dependencies,
    cluster: ProjectedCluster,
    access: ClusterAccess,
    live_deployments: dict[str, Manifest],
    live_services: dict[str, Manifest],
) -> None:
    """Delete the live objects of workloads deleted while the cluster was away (or that
    a rollout re-created while its Deployment was being deleted): found by the deleted
    entity's id, so that a new workload of the same name is left alone."""
    leftovers = await deps.leftovers.on_cluster(cluster.id)
    live: dict[str, dict[str, Manifest]] = {
        "Deployment": live_deployments,
        "Service": live_services,
    }
    for leftover in leftovers.values():
        for kind, _ in objects_of(leftover.kind, leftover.name):
            if kind not in live:  # a Deployment's ServiceAccount and NetworkPolicy
                live[kind] = await deps.cluster.managed(access, kind)
    for entity_id, leftover in leftovers.items():
        for kind, name in objects_of(leftover.kind, leftover.name):
            found = live[kind].pop(entity_id, None)
            if found is not None:
                one = replace(leftover, kind=kind, name=name)
                await _remove_leftover(deps, cluster, access, one, found)


async def _remove_leftover(
    deps: Dependencies,
    cluster: ProjectedCluster,
    access: ClusterAccess,
    leftover: Leftover,
    live: Manifest,
) -> None:
    metadata = dict(live).get("metadata") or {}
    namespace = str(metadata.get("namespace") or leftover.namespace)
    name = str(metadata.get("name") or leftover.name)
    await deps.cluster.delete(access, leftover.kind, namespace, name)
    log.info(
        "removed the object of a deleted workload",
        extra={"cluster": cluster.name, "object": f"{leftover.kind} {namespace}/{name}"},
    )


async def follow_releases(deps: Dependencies, cluster: ProjectedCluster) -> None:
    """A deployed release one of whose workloads failed in the cluster (not by an outage:
    the reactions say that) is `failed` with the workload's reason."""
    for release in await deps.releases.matching(
        cluster_id=cluster.id, status=ReleaseStatus.DEPLOYED
    ):
        reason = await _broken_workload(deps, release.id)
        revision = release.revision
        if reason is not None and release.workload_failed(reason):
            await retrying(partial(_release_broken, deps, release.id, revision, reason))


async def _broken_workload(deps: Dependencies, release_id: str) -> str | None:
    """Why the first failed workload of a release failed, or None."""
    failed: list[DeploymentAggregate | KubeServiceAggregate] = [
        *await deps.deployments.matching(release_id=release_id, status=DeploymentStatus.FAILED),
        *await deps.kube_services.matching(release_id=release_id, status=ServiceStatus.FAILED),
    ]
    for workload in failed:
        kind = "Deployment" if isinstance(workload, DeploymentAggregate) else "Service"
        return f"{kind} {workload.object_name}: {workload.state.reason or 'failed'}"
    return None


async def _release_broken(deps: Dependencies, release_id: str, revision: int, reason: str) -> None:
    async with deps.uow:
        release = await deps.releases.find(release_id)
        if release is None or release.revision != revision:
            return  # changed since it was read: the next round looks again
        release.workload_failed(reason)
        await deps.uow.commit()
