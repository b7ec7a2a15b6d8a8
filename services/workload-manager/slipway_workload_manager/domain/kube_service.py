"""The Kubernetes Service entity (a Slipway `Service`): its lifecycle rules, free of I/O.

`pending` while the cluster has no ready endpoints for it (or, for a LoadBalancer, no
ingress address yet), `active` once it has them, `failed` when it could not be applied,
its deadline passed, its cluster went away or it was deleted behind Slipway's back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from slipway_contracts.commands import ServiceSpec
from slipway_contracts.entities import SERVICE_TRANSITIONS, Deployment, Service, ServiceStatus
from slipway_libs.statemachine import TransitionTable
from slipway_workload_manager.domain.ports import ServiceObservation
from slipway_workload_manager.domain.workload import WorkloadAggregate

PENDING, ACTIVE, FAILED = ServiceStatus.PENDING, ServiceStatus.ACTIVE, ServiceStatus.FAILED
TUNNEL_HINT = (
    "waiting for a load-balancer address: on minikube, run `minikube tunnel` "
    "(the simulated cluster: POST /simulated/v1/tunnel)"
)


def spec_fields(spec: ServiceSpec, deployment: Deployment) -> dict[str, Any]:
    """The entity fields a POST or PUT sets; the cluster is always the deployment's."""
    return {**spec.model_dump(), "cluster_id": deployment.cluster_id}


def addresses(observation: ServiceObservation) -> dict[str, Any]:
    return {
        "cluster_ip": observation.cluster_ip,
        "node_port": observation.node_port,
        "ingress": list(observation.ingress),
        "endpoints": list(observation.endpoints),
    }


class KubeServiceAggregate(WorkloadAggregate[Service]):
    table = TransitionTable.of("service", SERVICE_TRANSITIONS)
    working = ACTIVE
    stopped_working: ClassVar[dict[str, Any]] = {"endpoints": []}
    job_field = "apply_id"
    in_flight = (PENDING,)
    rerun = PENDING

    @classmethod
    def accept(
        cls,
        spec: ServiceSpec,
        deployment: Deployment,
        *,
        service_id: str,
        apply_id: str,
        deadline: datetime,
    ) -> Self:
        """A new Service, `pending`, with its apply queued."""
        return cls.create(
            Service,
            service_id,
            PENDING,
            apply_id=apply_id,
            deadline=deadline,
            **spec_fields(spec, deployment),
        )

    @classmethod
    def rendered(
        cls, fields: dict[str, Any], *, service_id: str, apply_id: str, deadline: datetime
    ) -> Self:
        """A Service a release's chart renders (`fields` from its manifest), `pending`
        until it has ready endpoints."""
        return cls.create(
            Service, service_id, PENDING, apply_id=apply_id, deadline=deadline, **fields
        )

    def respecify(
        self, spec: ServiceSpec, deployment: Deployment, *, apply_id: str, deadline: datetime
    ) -> bool:
        """Apply a PUT; returns False when it changes nothing on an active Service."""
        return self._respecify(spec_fields(spec, deployment), apply_id, deadline)

    def repair(self, *, apply_id: str, deadline: datetime) -> None:
        """Apply the recorded spec again (after drift)."""
        self._run_again(apply_id, deadline, drift=None)

    # --- what the apply job and the reconcile loop report ---------------------------

    def is_current_apply(self, apply_id: str) -> bool:
        return self.is_current_job(apply_id)

    def apply_failed(self, apply_id: str, reason: str) -> None:
        if self.is_current_apply(apply_id):
            self.transition(FAILED, reason=reason, deadline=None)

    def observed(self, observation: ServiceObservation, *, deadline: datetime) -> bool:
        """Follow what the cluster says: endpoints (or ingress) make it `active`, losing
        them makes it `pending` again, until `deadline` (a LoadBalancer that only waits for
        a tunnel has no deadline: the reason says what to do)."""
        status = self.state.status
        found = addresses(observation)
        if observation.phase == "active":
            if status is not ACTIVE:
                self.transition(ACTIVE, reason=None, deadline=None, **found)
                return True
            return self._refresh(found)
        if observation.phase == "failed":
            if status is FAILED:
                return self._refresh(found)
            self.transition(
                FAILED,
                reason=observation.reason or "the cluster refused it",
                deadline=None,
                **found,
            )
            return True
        if observation.phase != "pending" or status is FAILED:
            return False  # missing is drift; a failed one stays failed until it is active
        waiting_for_tunnel = self.state.type == "LoadBalancer" and bool(observation.endpoints)
        reason = TUNNEL_HINT if waiting_for_tunnel else (observation.reason or "no ready endpoints")
        if status is ACTIVE:
            self.transition(
                PENDING, reason=reason, deadline=None if waiting_for_tunnel else deadline, **found
            )
            return True
        fresh = {**found, "reason": reason}
        if waiting_for_tunnel:
            fresh["deadline"] = None
        return self._refresh(fresh)

    def overdue(self, deadline: datetime) -> None:
        """Still pending past its deadline: `failed`, saying what it waited for."""
        why = self.state.reason or "no ready endpoints"
        self.transition(
            FAILED,
            reason=f"not active by its deadline ({deadline.isoformat()}): {why}",
            deadline=None,
        )

    def follow_live(
        self, observation: ServiceObservation, drift: str | None, *, deadline: datetime
    ) -> bool:
        """What the reconcile loop saw of the live Service: its drift, then its status (one
        that lost its endpoints fails unless they come back by `deadline`)."""
        drifted = self.drift_seen(drift, missing=observation.phase == "missing")
        return self.observed(observation, deadline=deadline) or drifted

    def cluster_back(self, *, apply_id: str, deadline: datetime) -> bool:
        return self._cluster_back(apply_id, deadline)
