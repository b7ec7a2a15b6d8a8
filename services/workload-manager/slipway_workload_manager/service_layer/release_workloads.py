"""A release's Deployments and Services as Slipway entities: recorded from the manifest
helm applied (new ones created, changed ones followed again, those it no longer renders
removed), followed in the cluster until they are available, and removed with the release.

The release's job (`release_operations`) calls these steps in order; each writes in a unit
of work of its own and changes nothing when the job's operation is no longer current.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slipway_contracts.entities import ReleaseWorkload
from slipway_contracts.jobs import ReleaseJob
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import Conflict, PermanentError
from slipway_libs.unit_of_work import Repository
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.ports import (
    ClusterAccess,
    HelmRevision,
    RolloutObservation,
    ServiceObservation,
)
from slipway_workload_manager.domain.projections import ProjectedCluster
from slipway_workload_manager.domain.release import ReleaseAggregate, history_of
from slipway_workload_manager.domain.release_manifests import (
    Owner,
    RenderedWorkloads,
    deployment_fields,
    objects_of,
    rendered_workloads,
    service_fields,
)
from slipway_workload_manager.domain.rollout import rollout_failure
from slipway_workload_manager.domain.workload import WorkloadAggregate
from slipway_workload_manager.service_layer.cluster_calls import in_cluster
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import endpoints_deadline


@dataclass(frozen=True)
class HelmOutcome:
    """What helm left after an install, upgrade or rollback."""

    revisions: list[HelmRevision]
    manifest: str
    chart_version: str | None = None

    @property
    def revision(self) -> int | None:
        return max((r.revision for r in self.revisions), default=None)


@dataclass
class Followed:
    """The last observation of each of a release's workloads, by entity id."""

    deployments: dict[str, RolloutObservation] = field(default_factory=dict)
    services: dict[str, ServiceObservation] = field(default_factory=dict)
    watched_s: float = 0.0


async def _loaded(repository: Repository[Any], release_id: str) -> list[Any]:
    """The release's workloads of one kind, loaded in the open unit of work."""
    found = await repository.matching(release_id=release_id)
    loaded = [await repository.find(w.id) for w in found]
    return [w for w in loaded if w is not None]


async def _image_ids(deps: Dependencies, images: dict[str, str]) -> dict[str, str]:
    """The references of the release's images -> their ids."""
    found = {i: await deps.projections.image(i) for i in set(images.values())}
    return {image.reference: i for i, image in found.items() if image is not None}


async def record(deps: Dependencies, job: ReleaseJob, outcome: HelmOutcome) -> bool:
    """Record helm's revision and history on the release, and its rendered Deployments and
    Services as entities (followed again where they changed); False when the job is stale."""
    async with deps.uow:
        release = await deps.releases.find(job.release_id)
        if release is None or not release.is_current(job.operation_id):
            return False
        state = release.state
        rendered = rendered_workloads(objects_of(outcome.manifest), state.namespace)
        owner = Owner(state.cluster_id, state.chart_id, state.id)
        try:
            workloads = await _record_workloads(
                deps, release, rendered, owner, await _image_ids(deps, state.images)
            )
        except Conflict as exc:  # an object of the same name that is not the release's
            raise PermanentError(exc.message) from exc
        history = history_of(
            outcome.revisions, state, made=outcome.revision, chart_version=outcome.chart_version
        )
        release.recorded(
            job.operation_id,
            helm_revision=outcome.revision,
            history=history,
            workloads=workloads,
        )
        return await deps.uow.commit(answer=True)


async def _record_workloads(
    deps: Dependencies,
    release: ReleaseAggregate,
    rendered: RenderedWorkloads,
    owner: Owner,
    image_ids: dict[str, str],
) -> list[ReleaseWorkload]:
    job_id, deadline = release.state.operation_id or "", _deadline(release)
    deployments = {
        (d.state.namespace, d.state.name): d for d in await _loaded(deps.deployments, release.id)
    }
    services = {
        (s.state.namespace, s.state.name): s for s in await _loaded(deps.kube_services, release.id)
    }
    workloads = []
    deployment_ids: dict[str, str] = {}
    for found in rendered.deployments:
        fields = deployment_fields(found, owner, image_ids)
        deployment = deployments.pop((found.namespace, found.name), None)
        if deployment is None:
            deployment = DeploymentAggregate.rendered(
                fields, deployment_id=context.new_id(), rollout_id=job_id, deadline=deadline
            )
            deps.deployments.add(deployment)
        else:
            deployment.rendered_again(fields, job_id=job_id, deadline=deadline)
        deployment_ids[found.name] = deployment.id
        workloads.append(
            ReleaseWorkload(kind="Deployment", name=found.name, entity_id=deployment.id)
        )
    for found_service in rendered.services:
        backend = deployment_ids.get(found_service.deployment or "")
        fields = service_fields(found_service, owner, backend)
        service = services.pop((found_service.namespace, found_service.name), None)
        if service is None:
            service = KubeServiceAggregate.rendered(
                fields, service_id=context.new_id(), apply_id=job_id, deadline=deadline
            )
            deps.kube_services.add(service)
        else:
            service.rendered_again(fields, job_id=job_id, deadline=deadline)
        workloads.append(
            ReleaseWorkload(kind="Service", name=found_service.name, entity_id=service.id)
        )
    gone: list[WorkloadAggregate[Any]] = [*deployments.values(), *services.values()]
    for workload in gone:  # the new revision no longer renders them: helm removed them
        workload.remove()
    return workloads


def _deadline(release: ReleaseAggregate) -> datetime:
    return release.state.deadline or utcnow()


async def remove_all(deps: Dependencies, release_id: str) -> None:
    """Remove the release's Deployment and Service entities, in the open unit of work."""
    workloads: list[WorkloadAggregate[Any]] = [
        *await _loaded(deps.deployments, release_id),
        *await _loaded(deps.kube_services, release_id),
    ]
    for workload in workloads:
        workload.remove()


async def uninstalled(deps: Dependencies, job: ReleaseJob) -> None:
    """helm removed the release: `uninstalled`, and its entities go with it."""
    async with deps.uow:
        release = await deps.releases.find(job.release_id)
        if release is None or not release.is_current(job.operation_id):
            return
        release.uninstalled(job.operation_id)
        await remove_all(deps, release.id)
        await deps.uow.commit()


# --- following them in the cluster ------------------------------------------------------


def seconds_until(deadline: datetime | None, fallback: float) -> float:
    """How long to watch: until just before `deadline` (at least a second)."""
    if deadline is None:
        return fallback
    return max((deadline - utcnow()).total_seconds() - 1, 1.0)


def _ready(kube_service: KubeServiceAggregate, observation: ServiceObservation) -> bool:
    """Whether a Service serves: ready endpoints (a LoadBalancer that only waits for a
    tunnel serves inside the cluster already)."""
    if observation.phase == "active":
        return True
    return kube_service.state.type == "LoadBalancer" and bool(observation.endpoints)


async def follow(
    deps: Dependencies,
    cluster: ProjectedCluster,
    access: ClusterAccess,
    release_id: str,
    deadline: datetime | None,
) -> Followed:
    """Watch every Deployment of the release until it is available (or fails, or the
    deadline comes), then every Service until it has ready endpoints."""
    deployments = await deps.deployments.matching(release_id=release_id)
    services = await deps.kube_services.matching(release_id=release_id)
    followed = Followed(watched_s=seconds_until(deadline, 300.0))
    observations = await asyncio.gather(
        *(
            in_cluster(
                deps,
                cluster,
                "Deployment",
                deps.cluster.wait_deployment(
                    access, d.state.namespace, d.state.name, followed.watched_s
                ),
            )
            for d in deployments
        )
    )
    followed.deployments = {d.id: o for d, o in zip(deployments, observations, strict=True)}
    all_available = all(o.phase == "available" for o in observations)
    while True:
        seen = await asyncio.gather(
            *(
                in_cluster(
                    deps,
                    cluster,
                    "Service",
                    deps.cluster.observe_service(access, s.state.namespace, s.state.name),
                )
                for s in services
            )
        )
        followed.services = {s.id: o for s, o in zip(services, seen, strict=True)}
        waiting = not all(_ready(s, o) for s, o in zip(services, seen, strict=True))
        # A release whose Deployment failed is failed: its Services need not be waited for.
        if not waiting or not all_available or seconds_until(deadline, 0) <= 1:
            return followed
        await asyncio.sleep(deps.settings.service_poll_interval_s)


async def conclude(deps: Dependencies, job: ReleaseJob, followed: Followed) -> None:
    """What the cluster said of each workload, recorded: `deployed` when all of them are
    available, else `failed` with each one's reason."""
    async with deps.uow:
        release = await deps.releases.find(job.release_id)
        if release is None or not release.is_current(job.operation_id):
            return
        seen = []
        for deployment_id, rollout in followed.deployments.items():
            seen.append(await _deployment_seen(deps, job, deployment_id, rollout, followed))
        for service_id, endpoints in followed.services.items():
            seen.append(await _service_seen(deps, job, service_id, endpoints))
        failures = [why for why in seen if why is not None]
        if failures:
            release.failed(job.operation_id, "; ".join(failures))
        else:
            release.deployed(job.operation_id)
        await deps.uow.commit()


async def _deployment_seen(
    deps: Dependencies,
    job: ReleaseJob,
    deployment_id: str,
    observation: RolloutObservation,
    followed: Followed,
) -> str | None:
    """Record one Deployment's observation; why it is not available, or None."""
    deployment = await deps.deployments.find(deployment_id)
    if deployment is None:
        return None
    where = f"{deployment.state.namespace}/{deployment.state.name}"
    current = deployment.is_current_rollout(job.operation_id)
    if observation.phase == "available":
        if current:
            deployment.rolled_out(job.operation_id, observation)
        else:
            deployment.observed(observation)
        return None
    reason = rollout_failure(observation, where, followed.watched_s)
    if current:
        deployment.rollout_failed(job.operation_id, reason, observation)
    else:
        deployment.observed(observation)
    return f"Deployment {where}: {reason}"


async def _service_seen(
    deps: Dependencies, job: ReleaseJob, service_id: str, observation: ServiceObservation
) -> str | None:
    """Record one Service's observation; why it does not serve, or None."""
    kube_service = await deps.kube_services.find(service_id)
    if kube_service is None:
        return None
    kube_service.observed(observation, deadline=endpoints_deadline(deps.settings))
    if _ready(kube_service, observation):
        return None
    reason = observation.reason or "no ready endpoints"
    kube_service.apply_failed(job.operation_id, reason)
    return f"Service {kube_service.object_name}: {reason}"


async def stopped(deps: Dependencies, job: ReleaseJob, reason: str) -> None:
    """The operation cannot succeed: the release is `failed` with why, and its workloads
    that waited for this operation too."""
    async with deps.uow:
        release = await deps.releases.find(job.release_id)
        if release is None or not release.is_current(job.operation_id):
            return
        release.failed(job.operation_id, reason)
        for deployment in await _loaded(deps.deployments, release.id):
            deployment.rollout_failed(job.operation_id, reason)
        for kube_service in await _loaded(deps.kube_services, release.id):
            kube_service.apply_failed(job.operation_id, reason)
        await deps.uow.commit()
