"""The rollout and apply jobs: take a Deployment or a Service to its cluster and follow it
until the cluster says it works (or why it does not)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

from slipway_contracts import subjects
from slipway_contracts.entities import Deployment, Service
from slipway_contracts.jobs import ApplyServiceJob, RolloutJob
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import PermanentError, RetryableError
from slipway_libs.jobs import Delivery, run_entity_job
from slipway_libs.storage import change
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.manifests import deployment_manifest, service_manifest
from slipway_workload_manager.domain.ports import (
    ClusterAccess,
    ClusterRejected,
    ClusterUnreachable,
    ServiceObservation,
)
from slipway_workload_manager.domain.projections import ProjectedCluster
from slipway_workload_manager.domain.service import ServiceAggregate
from slipway_workload_manager.parts import UseCases, WorkloadParts
from slipway_workload_manager.scheduling import service_deadline

log = logging.getLogger(__name__)

T = TypeVar("T")
# The cluster-manager's driver code for a cluster that cannot take local images.
UNSUPPORTED = "UNSUPPORTED"
Progress = Callable[[str, str, str], Awaitable[None]]
"""Receives (entity, entity id, one progress line); best effort, never persisted."""


async def no_progress(entity: str, entity_id: str, line: str) -> None:
    pass


class Rollouts(UseCases):
    def __init__(self, parts: WorkloadParts, progress: Progress = no_progress) -> None:
        super().__init__(parts)
        self.progress = progress

    # --- reaching the cluster ---------------------------------------------------------

    async def _running_cluster(self, cluster_id: str) -> ProjectedCluster:
        cluster = await self.projections.cluster(cluster_id)
        outage = rules.cluster_outage(cluster, cluster_id)
        if outage is not None or cluster is None:
            # Failed with the outage as reason: rolled out again when the cluster returns.
            raise PermanentError(outage)
        return cluster

    async def _access(self, cluster: ProjectedCluster) -> ClusterAccess:
        try:
            return await self.connections.access(cluster)
        except (ClusterManagerUnavailable, ClusterManagerRefused) as exc:
            raise RetryableError(
                f"no kubeconfig for cluster '{cluster.name}' from the cluster-manager: {exc}"
            ) from exc

    async def _in_cluster(self, cluster: ProjectedCluster, what: str, call: Awaitable[T]) -> T:
        """Await one call on the cluster, classifying its failure for the job."""
        try:
            return await call
        except ClusterUnreachable as exc:
            self.connections.forget(cluster.id)
            raise RetryableError(f"could not reach cluster '{cluster.name}': {exc}") from exc
        except ClusterRejected as exc:
            raise PermanentError(
                f"cluster '{cluster.name}' refused the {what}: {exc.message}"
            ) from exc

    # --- rollout --------------------------------------------------------------------

    async def run_rollout(self, job: RolloutJob, msg: Delivery, attempt: int) -> None:
        """Roll one Deployment out; a job whose rollout is no longer current is dropped."""

        async def roll_out(deployment: DeploymentAggregate) -> None:
            await self._roll_out(deployment.state, job.rollout_id)

        await run_entity_job(
            msg,
            attempt,
            self.settings,
            self.deployments,
            job.deployment_id,
            current=lambda d: d.is_current_rollout(job.rollout_id),
            work=roll_out,
            failed=lambda d, reason: d.rollout_failed(job.rollout_id, reason),
        )

    async def _say(self, state: Deployment | Service, line: str) -> None:
        entity = subjects.DEPLOYMENT if isinstance(state, Deployment) else subjects.SERVICE
        with contextlib.suppress(Exception):  # progress is best effort
            await self.progress(entity, state.id, line)

    async def _roll_out(self, state: Deployment, rollout_id: str) -> None:
        cluster = await self._running_cluster(state.cluster_id)
        access = await self._access(cluster)
        reference = state.image or ""
        await self._hand_image(state, cluster, reference)
        where = f"{state.namespace}/{state.name}"
        await self._in_cluster(
            cluster, "namespace", self.cluster.ensure_namespace(access, state.namespace)
        )
        await self._in_cluster(
            cluster, "Deployment", self.cluster.apply(access, deployment_manifest(state, reference))
        )
        await self._say(state, f"applied Deployment {where}; waiting for {state.replicas} replicas")
        remaining = (state.deadline - utcnow()).total_seconds() if state.deadline else None
        timeout = max(remaining - 1, 1.0) if remaining else float(state.progress_deadline_seconds)
        observation = await self._in_cluster(
            cluster,
            "Deployment",
            self.cluster.wait_deployment(access, state.namespace, state.name, timeout),
        )
        if observation.phase == "available":
            await self._say(state, f"{observation.available} replicas available")
            await change(
                self.deployments, state.id, lambda d: d.rolled_out(rollout_id, observation)
            )
            return
        if observation.phase == "failed":
            reason = observation.reason or "the rollout failed"
        elif observation.phase == "missing":
            reason = f"Deployment {where} disappeared from the cluster during the rollout"
        else:
            why = f": {observation.reason}" if observation.reason else ""
            reason = (
                f"rollout did not finish within {timeout:.0f} s "
                f"({observation.available}/{observation.desired} replicas available){why}"
            )
        await self._say(state, f"rollout failed: {reason}")
        await change(
            self.deployments, state.id, lambda d: d.rollout_failed(rollout_id, reason, observation)
        )

    async def _hand_image(
        self, state: Deployment, cluster: ProjectedCluster, reference: str
    ) -> None:
        """A tracked step: the image must reach the cluster, or the rollout fails saying why.

        A cluster that cannot take images (an attached one) is left to pull it itself.
        """
        image = await self.projections.image(state.image_id) if state.image_id else None
        digest = image.digest if image and image.reference == reference else None
        await self._say(state, f"handing image {reference} to cluster '{cluster.name}'")
        try:
            loaded = await self.connections.hand_image(cluster, reference, digest)
        except ClusterManagerUnavailable as exc:
            raise RetryableError(f"image load: {exc}") from exc
        except ClusterManagerRefused as exc:
            if exc.driver_code == UNSUPPORTED:
                await self._say(state, f"image {reference} not loaded: {exc.message}")
                return
            if exc.code == "conflict" and exc.driver_code is None:
                # The cluster is not running (any more): its event is on the way.
                raise RetryableError(f"image load failed: {exc.message}") from exc
            raise PermanentError(f"image load failed: {exc.message}") from exc
        await self._say(state, f"image {reference} {'loaded' if loaded else 'already loaded'}")

    # --- service apply ----------------------------------------------------------------

    async def run_apply(self, job: ApplyServiceJob, msg: Delivery, attempt: int) -> None:
        """Apply one Service and follow it until it is active (or its deadline)."""

        async def apply(service: ServiceAggregate) -> None:
            await self._apply(service.state, job.apply_id)

        await run_entity_job(
            msg,
            attempt,
            self.settings,
            self.services,
            job.service_id,
            current=lambda s: s.is_current_apply(job.apply_id),
            work=apply,
            failed=lambda s, reason: s.apply_failed(job.apply_id, reason),
        )

    async def _apply(self, state: Service, apply_id: str) -> None:
        cluster = await self._running_cluster(state.cluster_id)
        backend = await self.deployments.find(state.deployment_id)
        if backend is None:
            raise PermanentError(f"its deployment '{state.deployment_id}' no longer exists")
        access = await self._access(cluster)
        await self._in_cluster(
            cluster, "namespace", self.cluster.ensure_namespace(access, state.namespace)
        )
        await self._in_cluster(
            cluster, "Service", self.cluster.apply(access, service_manifest(state, backend.state))
        )
        await self._say(state, f"applied Service {state.namespace}/{state.name}")
        await self.follow_service(state.id, apply_id, cluster, access, backend.state)

    async def follow_service(
        self,
        service_id: str,
        apply_id: str,
        cluster: ProjectedCluster,
        access: ClusterAccess,
        backend: Deployment,
    ) -> None:
        """Observe a just-applied Service until it is active, waits only for a tunnel, or
        passes its deadline (then `failed`)."""
        deadline = service_deadline(self.settings, backend)
        while True:
            current = await self._current_service(service_id, apply_id)
            if current is None or current.deadline is None:
                return  # active, failed, replaced, or a LoadBalancer waiting for a tunnel
            observation = await self._in_cluster(
                cluster,
                "Service",
                self.cluster.observe_service(access, current.namespace, current.name),
            )
            step = partial(follow, apply_id=apply_id, observation=observation, deadline=deadline)
            await change(self.services, service_id, step)
            if not await self._current_service(service_id, apply_id):
                return
            await asyncio.sleep(self.settings.service_poll_interval_s)

    async def _current_service(self, service_id: str, apply_id: str) -> Service | None:
        service = await self.services.find(service_id)
        if service is None or not service.is_current_apply(apply_id):
            return None
        return service.state


def follow(
    service: ServiceAggregate, apply_id: str, observation: ServiceObservation, deadline: datetime
) -> None:
    """One observation of a Service being applied; past its deadline it fails."""
    if service.is_current_apply(apply_id):
        service.observed(observation, deadline=deadline)
        service.expire(utcnow())
