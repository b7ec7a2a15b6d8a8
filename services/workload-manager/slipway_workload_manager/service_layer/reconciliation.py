"""Keeping the records truthful: the projections of the other services' events, the
reactions to clusters and images changing, the deadline sweep, and the reconcile loop
that compares every workload with its live objects (status and drift).

Reactions are decided from the state as it is now (the projected cluster, the recorded
workloads), not from the event that woke them: a redelivered or missed event changes
nothing, and the reconcile loop runs the same reactions as a safety net.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from slipway_contracts import subjects
from slipway_contracts.entities import DeploymentStatus, ServiceStatus
from slipway_libs import context
from slipway_libs.storage import change, deadline_in, expire_overdue, matching
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.drift import deployment_drift, service_drift
from slipway_workload_manager.domain.ports import (
    ClusterAccess,
    ClusterRejected,
    ClusterUnreachable,
    Manifest,
    RolloutObservation,
    ServiceObservation,
)
from slipway_workload_manager.domain.projections import (
    NotProjected,
    ProjectedCluster,
    parse_event,
)
from slipway_workload_manager.domain.rollout import interpret_deployment
from slipway_workload_manager.domain.service import ServiceAggregate
from slipway_workload_manager.parts import UseCases
from slipway_workload_manager.scheduling import queue_apply, queue_rollout, rollout_deadline

log = logging.getLogger(__name__)

D = DeploymentStatus
S = ServiceStatus
MISSING_DEPLOYMENT = RolloutObservation(phase="missing")
MISSING_SERVICE = ServiceObservation(phase="missing")
CLUSTER_TROUBLE = (
    ClusterUnreachable,
    ClusterRejected,
    ClusterManagerUnavailable,
    ClusterManagerRefused,
)


class Reconciler(UseCases):
    # --- projections ------------------------------------------------------------

    async def project(self, envelope: dict[str, Any]) -> bool:
        """Apply one event of SLIPWAY_EVENTS to the projections, then react to the new
        state. False when the event was not one to project (it is skipped)."""
        try:
            event = parse_event(envelope)
        except NotProjected as exc:
            log.warning("event skipped", extra={"error": str(exc)})
            return False
        await self.projections.apply(event)
        try:
            if event.entity == subjects.MINIKUBE_CLUSTER:
                await self.react_to_cluster(event.entity_id)
            elif event.entity == subjects.CONTAINER_IMAGE:
                await self.react_to_image(event.entity_id)
        except Exception:  # the reconcile loop reacts again; the projection is kept
            log.exception("reaction failed", extra={"entity_id": event.entity_id})
        return True

    # --- reactions ----------------------------------------------------------------

    async def react_to_cluster(self, cluster_id: str) -> int:
        """Fail the workloads of a cluster that is down; roll them out again when it runs.
        Returns how many workloads changed."""
        return await self._react_to(cluster_id, await self.projections.cluster(cluster_id))

    async def _react_to(self, cluster_id: str, cluster: ProjectedCluster | None) -> int:
        outage = rules.cluster_outage(cluster, cluster_id)
        changed = 0
        if outage is not None:
            self.connections.forget(cluster_id)
            for d in await matching(self.deployments, {"cluster_id": cluster_id}):
                if d.cluster_down(outage):  # decided on the loaded copy, redone in the write
                    changed += await change(
                        self.deployments, d.id, lambda x: x.cluster_down(outage)
                    )
            for s in await matching(self.services, {"cluster_id": cluster_id}):
                if s.cluster_down(outage):
                    changed += await change(self.services, s.id, lambda x: x.cluster_down(outage))
            return changed
        for d in await matching(self.deployments, {"cluster_id": cluster_id, "status": D.FAILED}):
            if rules.failed_by_outage(d.state.reason):
                changed += await change(
                    self.deployments, d.id, self._deployment_back, queue_rollout
                )
        for s in await matching(self.services, {"cluster_id": cluster_id, "status": S.FAILED}):
            if rules.failed_by_outage(s.state.reason):
                changed += await change(self.services, s.id, self._service_back, queue_apply)
        return changed

    def _deployment_back(self, deployment: DeploymentAggregate) -> bool:
        return deployment.cluster_back(
            rollout_id=context.new_id(),
            deadline=rollout_deadline(self.settings, deployment.state.progress_deadline_seconds),
        )

    def _service_back(self, service: ServiceAggregate) -> bool:
        return service.cluster_back(
            apply_id=context.new_id(), deadline=deadline_in(self.settings.service_deadline_s)
        )

    async def react_to_image(self, image_id: str) -> int:
        """Note a failed image on the Deployments that run it (they keep running)."""
        image = await self.projections.image(image_id)
        if image is None:
            return 0
        changed = 0
        for d in await matching(self.deployments, {"image_id": image_id}):
            if d.image_changed(image):
                changed += await change(self.deployments, d.id, lambda x: x.image_changed(image))
        return changed

    # --- deadlines ------------------------------------------------------------------

    async def expire_overdue(self) -> int:
        """Fail every rollout and every Service apply still going past its deadline."""
        margin = self.settings.rollout_deadline_margin_s
        rolling = {"status": {"$in": [D.PENDING, D.UPDATING]}}
        expired = await expire_overdue(
            self.deployments, lambda d, now: d.expire(now, margin), rolling
        )
        return expired + await expire_overdue(
            self.services, ServiceAggregate.expire, {"status": S.PENDING}
        )

    # --- the reconcile loop ---------------------------------------------------------

    async def reconcile(self) -> None:
        """One round over every cluster that has workloads (or leftovers)."""
        clusters: set[str] = set()
        for repository in (self.deployments, self.services):
            clusters.update(str(c) for c in await repository.collection.distinct("cluster_id"))
        clusters |= await self.leftovers.clusters()
        for cluster_id in sorted(clusters):
            cluster = await self.projections.cluster(cluster_id)
            await self._react_to(cluster_id, cluster)
            if cluster is None or not cluster.running:
                continue
            try:
                await self.reconcile_cluster(cluster)
            except CLUSTER_TROUBLE as exc:
                self.connections.forget(cluster_id)
                log.warning(
                    "cannot reconcile cluster", extra={"cluster": cluster.name, "error": str(exc)}
                )

    async def reconcile_cluster(self, cluster: ProjectedCluster) -> None:
        """Compare the running cluster's live objects with the records: status, drift,
        leftovers of deleted workloads.

        The records are read before the cluster: what the cluster says is then newer than
        each record, and it is written only to a record that has not changed since (a
        rollout that finished meanwhile is not overwritten by what the cluster said before).
        """
        running = await matching(self.deployments, {"cluster_id": cluster.id, "status": D.RUNNING})
        services = await matching(self.services, {"cluster_id": cluster.id})
        access = await self.connections.access(cluster)
        live_deployments = await self.cluster.managed(access, "Deployment")
        live_services = await self.cluster.managed(access, "Service")
        await self._remove_leftovers(cluster, access, live_deployments, live_services)
        limit = asyncio.Semaphore(self.settings.observe_concurrency)

        async def bounded(work: Awaitable[None]) -> None:
            async with limit:
                await work

        await asyncio.gather(
            *(
                bounded(self._check_deployment(access, d, live_deployments.get(d.id)))
                for d in running
            ),
            *(bounded(self._check_service(access, s, s.id in live_services)) for s in services),
        )

    async def _check_deployment(
        self, access: ClusterAccess, deployment: DeploymentAggregate, live: Manifest | None
    ) -> None:
        state = deployment.state
        observation = interpret_deployment(live) if live is not None else MISSING_DEPLOYMENT
        if observation.phase == "failed":  # ask the pods and their events for the reason
            observation = await self.cluster.observe_deployment(access, state.namespace, state.name)
        drift = deployment_drift(state, observation)
        missing = observation.phase == "missing"

        def follow(item: DeploymentAggregate) -> bool:
            if item.revision != state.revision:
                return False  # changed since it was read: the next round looks again
            drifted = item.drift_seen(drift, missing=missing)
            return item.observed(observation) or drifted

        if follow(self.deployments.aggregate(state, loaded_revision=state.revision)):
            await change(self.deployments, deployment.id, follow)

    async def _check_service(
        self, access: ClusterAccess, service: ServiceAggregate, live: bool
    ) -> None:
        state = service.state
        if live:
            observation = await self.cluster.observe_service(access, state.namespace, state.name)
        else:
            observation = MISSING_SERVICE
        if observation.phase == "missing" and state.status is not S.ACTIVE:
            return  # not applied yet, or failed before it was: nothing drifted
        drift = service_drift(state, observation)
        missing = observation.phase == "missing"
        # A Service that lost its endpoints fails unless they come back by then.
        deadline = deadline_in(self.settings.service_deadline_s)

        def follow(item: ServiceAggregate) -> bool:
            if item.revision != state.revision:
                return False
            drifted = item.drift_seen(drift, missing=missing)
            return item.observed(observation, deadline=deadline) or drifted

        if follow(self.services.aggregate(state, loaded_revision=state.revision)):
            await change(self.services, service.id, follow)

    async def _remove_leftovers(
        self,
        cluster: ProjectedCluster,
        access: ClusterAccess,
        live_deployments: dict[str, Manifest],
        live_services: dict[str, Manifest],
    ) -> None:
        """Delete the live objects of workloads deleted while the cluster was away (or that
        a rollout re-created while its Deployment was being deleted)."""
        leftovers = await self.leftovers.on_cluster(cluster.id)
        for entity_id, row in leftovers.items():
            live = (live_deployments if row["kind"] == "Deployment" else live_services).pop(
                entity_id, None
            )
            if live is None:
                continue
            metadata = dict(live).get("metadata") or {}
            namespace = str(metadata.get("namespace") or row["namespace"])
            name = str(metadata.get("name") or row["name"])
            await self.cluster.delete(access, str(row["kind"]), namespace, name)
            log.info(
                "removed the object of a deleted workload",
                extra={"cluster": cluster.name, "object": f"{row['kind']} {namespace}/{name}"},
            )
