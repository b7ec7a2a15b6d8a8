"""The rollout and apply jobs: take a Deployment or a Kubernetes Service to its cluster and
follow it until the cluster says it works (or why it does not).

`roll_out` and `apply_service` are a job's work, `fail_rollout` and `fail_apply` its
terminal end (`slipway_libs.jobs.run_job` calls them). A job whose rollout or apply is no
longer the current one (the entity changed since, or is gone) changes nothing. Each step
is published as a progress line of the entity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from functools import partial

from slipway_contracts.entities import Deployment, Service
from slipway_contracts.jobs import ApplyServiceJob, RolloutJob
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import PermanentError
from slipway_libs.unit_of_work import ConcurrentWrite, retrying
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.manifests import (
    deployment_objects,
    pull_secret_name,
    service_manifest,
)
from slipway_workload_manager.domain.ports import (
    ClusterAccess,
    Manifest,
    RegistryPullLogin,
    RolloutObservation,
    ServiceObservation,
)
from slipway_workload_manager.domain.projections import ProjectedCluster
from slipway_workload_manager.domain.rollout import rollout_failure
from slipway_workload_manager.service_layer.cluster_calls import (
    access_to,
    cluster_to_work_on,
    hand_image,
    in_cluster,
)
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import service_deadline

# --- the rollout of a Deployment ---------------------------------------------------


async def roll_out(deps: Dependencies, job: RolloutJob) -> None:
    """Hand the image to the cluster, apply the Deployment (with its ServiceAccount and
    NetworkPolicy) and watch it until it is available (`running`) or fails (`failed` with
    the cluster's reason)."""
    deployment = await deps.deployments.find(job.deployment_id)
    if deployment is None or not deployment.is_current_rollout(job.rollout_id):
        return
    state = deployment.state
    cluster = await cluster_to_work_on(deps, state.cluster_id)
    access = await access_to(deps, cluster)
    reference, login = await _image_to_run(deps, state, cluster)
    *accessories, manifest = deployment_objects(state, reference, login)
    await _apply(deps, cluster, access, state, accessories)
    where = _where(state)
    await _say(deps, state, f"applying Deployment {where}; waiting for {state.replicas} replicas")
    timeout = _watch_time(state)
    # Applied by the wait itself: it follows the Deployment from the apply's answer.
    observation = await in_cluster(
        deps,
        cluster,
        "Deployment",
        deps.cluster.wait_deployment(
            access, state.namespace, state.name, timeout, applying=manifest
        ),
    )
    if observation.phase != "available":
        reason = rollout_failure(observation, where, timeout)
        await _say(deps, state, f"rollout failed: {reason}")
        await fail_rollout(deps, job, reason, observation)
        return
    await _say(deps, state, f"{observation.available} replicas available")
    try:  # written over the record as the job read it, unless it changed since
        await retrying(partial(_rolled_out, deps, job, observation, deployment))
    except ConcurrentWrite:
        await retrying(partial(_rolled_out, deps, job, observation, None))


async def fail_rollout(
    deps: Dependencies, job: RolloutJob, reason: str, observation: RolloutObservation | None = None
) -> None:
    """The rollout cannot succeed: its Deployment is `failed` with the reason."""
    await retrying(partial(_rollout_failed, deps, job, reason, observation))


async def _rolled_out(
    deps: Dependencies,
    job: RolloutJob,
    observation: RolloutObservation,
    read: DeploymentAggregate | None,
) -> None:
    """The rollout finished: on the Deployment as `read` before it (no second read; its
    revision guards the write: ConcurrentWrite if it changed since), or as it is now."""
    async with deps.uow:
        if read is None:
            deployment = await deps.deployments.find(job.deployment_id)
        else:
            deployment = DeploymentAggregate(
                read.state.model_copy(deep=True), loaded_revision=read.loaded_revision
            )
            deps.deployments.add(deployment)
        if deployment is not None:
            deployment.rolled_out(job.rollout_id, observation)
        await deps.uow.commit()


async def _rollout_failed(
    deps: Dependencies, job: RolloutJob, reason: str, observation: RolloutObservation | None
) -> None:
    async with deps.uow:
        deployment = await deps.deployments.find(job.deployment_id)
        if deployment is not None:
            deployment.rollout_failed(job.rollout_id, reason, observation)
        await deps.uow.commit()


def _watch_time(state: Deployment) -> float:
    """How long to watch the rollout: until just before its deadline."""
    remaining = (state.deadline - utcnow()).total_seconds() if state.deadline else None
    return max(remaining - 1, 1.0) if remaining else float(state.progress_deadline_seconds)


async def _image_to_run(
    deps: Dependencies, state: Deployment, cluster: ProjectedCluster
) -> tuple[str, RegistryPullLogin | None]:
    """A tracked step, the reference the Deployment runs and the registry login it is
    pulled with: a pushed image is pulled by the cluster from its registry (nothing is
    loaded; with the image's login when it was pushed with one); any other image must be
    handed to the cluster, or the rollout fails saying why."""
    reference = state.image or ""
    image = await deps.projections.image(state.image_id) if state.image_id else None
    known = image if image is not None and image.reference == reference else None
    if known is not None and (pushed := known.pushed_reference):
        await _say(deps, state, f"cluster '{cluster.name}' pulls image {pushed} from its registry")
        login = await deps.pull_logins.login(known.id)
        if login is not None:
            secret = pull_secret_name(known.id)
            await _say(deps, state, f"pulling with Secret {secret} (user '{login.username}')")
        return pushed, login
    digest = known.digest if known is not None else None
    await _say(deps, state, f"handing image {reference} to cluster '{cluster.name}'")
    await _say(deps, state, await hand_image(deps, cluster, reference, digest))
    return reference, None


# --- the apply of a Kubernetes Service ------------------------------------------------


async def apply_service(deps: Dependencies, job: ApplyServiceJob) -> None:
    """Apply the Kubernetes Service and observe it every `service_poll_interval_s` until it
    is active, waits only for a tunnel, or passes its deadline (`failed`)."""
    kube_service = await deps.kube_services.find(job.service_id)
    if kube_service is None or not kube_service.is_current_apply(job.apply_id):
        return
    state = kube_service.state
    cluster = await cluster_to_work_on(deps, state.cluster_id)
    backend = await deps.deployments.find(state.deployment_id) if state.deployment_id else None
    if backend is None:
        raise PermanentError(f"its deployment '{state.deployment_id}' no longer exists")
    access = await access_to(deps, cluster)
    await _apply(deps, cluster, access, state, [service_manifest(state, backend.state)])
    await _say(deps, state, f"applied Service {_where(state)}")
    deadline = service_deadline(deps.settings, backend.state)
    following = True
    while following:
        observation = await in_cluster(
            deps,
            cluster,
            "Service",
            deps.cluster.observe_service(access, state.namespace, state.name),
        )
        following = await retrying(partial(_observed, deps, job, observation, deadline))
        if following:
            await asyncio.sleep(deps.settings.service_poll_interval_s)


async def fail_apply(deps: Dependencies, job: ApplyServiceJob, reason: str) -> None:
    """The apply cannot succeed: its Kubernetes Service is `failed` with the reason."""
    await retrying(partial(_apply_failed, deps, job, reason))


async def _observed(
    deps: Dependencies, job: ApplyServiceJob, observation: ServiceObservation, deadline: datetime
) -> bool:
    """One observation of a Kubernetes Service being applied (past its deadline it fails);
    whether to keep following it: its apply is current and it still has a deadline (not
    active, failed, replaced, or a LoadBalancer that only waits for a tunnel)."""
    async with deps.uow:
        kube_service = await deps.kube_services.find(job.service_id)
        if kube_service is None or not kube_service.is_current_apply(job.apply_id):
            return False
        kube_service.observed(observation, deadline=deadline)
        kube_service.expire(utcnow())
        following = kube_service.is_current_apply(job.apply_id) and kube_service.deadline()
        return await deps.uow.commit(answer=bool(following))


async def _apply_failed(deps: Dependencies, job: ApplyServiceJob, reason: str) -> None:
    async with deps.uow:
        kube_service = await deps.kube_services.find(job.service_id)
        if kube_service is not None:
            kube_service.apply_failed(job.apply_id, reason)
        await deps.uow.commit()


# --- reaching the cluster ------------------------------------------------------------


def _where(state: Deployment | Service) -> str:
    return f"{state.namespace}/{state.name}"


async def _say(deps: Dependencies, state: Deployment | Service, line: str) -> None:
    """One progress line of the entity (best effort)."""
    if isinstance(state, Deployment):
        await deps.deployment_progress.publish(state.id, [line])
    else:
        await deps.kube_service_progress.publish(state.id, [line])


async def _apply(
    deps: Dependencies,
    cluster: ProjectedCluster,
    access: ClusterAccess,
    state: Deployment | Service,
    manifests: Sequence[Manifest],
) -> None:
    """Apply the entity's objects in its namespace (made if missing), in their order."""
    await in_cluster(
        deps, cluster, "namespace", deps.cluster.ensure_namespace(access, state.namespace)
    )
    for manifest in manifests:
        kind = str(manifest["kind"])
        await in_cluster(deps, cluster, kind, deps.cluster.apply(access, manifest))
