"""Deployment: its lifecycle rules, free of I/O.

`pending` (first rollout) and `updating` (any later one) end in `running` when the
cluster reports the rollout available, or `failed` with the cluster's reason. Every
rollout has an id; a job whose rollout is no longer current changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Self

from slipway_contracts.commands import DeploymentSpec
from slipway_contracts.entities import DEPLOYMENT_TRANSITIONS, Deployment, DeploymentStatus
from slipway_libs.statemachine import TransitionTable
from slipway_workload_manager.domain.ports import RolloutObservation
from slipway_workload_manager.domain.projections import ProjectedImage
from slipway_workload_manager.domain.workload import WorkloadAggregate

PENDING, RUNNING = DeploymentStatus.PENDING, DeploymentStatus.RUNNING
FAILED, UPDATING = DeploymentStatus.FAILED, DeploymentStatus.UPDATING
ROLLING = (PENDING, UPDATING)


def spec_fields(spec: DeploymentSpec, image: ProjectedImage) -> dict[str, Any]:
    """The entity fields a POST or PUT sets; the image is always stored by id and reference."""
    fields = spec.model_dump(exclude={"image_id", "image"})
    return {**fields, "image_id": image.id, "image": image.reference}


def counts(observation: RolloutObservation) -> dict[str, int]:
    return {
        "available_replicas": observation.available,
        "ready_replicas": observation.ready,
        "updated_replicas": observation.updated,
    }


def image_trouble(image: ProjectedImage) -> str:
    """The note a running Deployment carries while its image is failed."""
    return f"image {image.reference} failed: {image.reason or 'no reason given'}"


class DeploymentAggregate(WorkloadAggregate[Deployment]):
    table = TransitionTable.of("deployment", DEPLOYMENT_TRANSITIONS)
    working = RUNNING
    stopped_working: ClassVar[dict[str, Any]] = {"available_replicas": 0, "ready_replicas": 0}
    job_field = "rollout_id"
    in_flight = ROLLING
    rerun = UPDATING

    @classmethod
    def accept(
        cls,
        spec: DeploymentSpec,
        image: ProjectedImage,
        *,
        deployment_id: str,
        rollout_id: str,
        deadline: datetime,
    ) -> Self:
        """A new Deployment, `pending`, with its first rollout queued."""
        return cls.create(
            Deployment,
            deployment_id,
            PENDING,
            rollout_id=rollout_id,
            deadline=deadline,
            **spec_fields(spec, image),
        )

    @classmethod
    def rendered(
        cls, fields: dict[str, Any], *, deployment_id: str, rollout_id: str, deadline: datetime
    ) -> Self:
        """A Deployment a release's chart renders (`fields` from its manifest), `pending`
        until the release's job sees it available."""
        return cls.create(
            Deployment, deployment_id, PENDING, rollout_id=rollout_id, deadline=deadline, **fields
        )

    # --- changes a user asks for ------------------------------------------------

    def respecify(
        self,
        spec: DeploymentSpec,
        image: ProjectedImage,
        *,
        rollout_id: str,
        deadline: datetime,
    ) -> bool:
        """Apply a PUT; returns False when it changes nothing on a running Deployment."""
        return self._respecify(spec_fields(spec, image), rollout_id, deadline)

    def scale(self, replicas: int, *, rollout_id: str, deadline: datetime) -> bool:
        """Change the replica count; returns False when a running Deployment has it already."""
        return self._respecify({"replicas": replicas}, rollout_id, deadline)

    def repair(self, *, rollout_id: str, deadline: datetime) -> None:
        """Apply the recorded spec again, undoing changes made behind Slipway's back."""
        self._run_again(rollout_id, deadline, drift=None)

    # --- what the rollout job reports ---------------------------------------------

    def is_current_rollout(self, rollout_id: str) -> bool:
        """Whether a rollout job is still the one this Deployment waits for."""
        return self.is_current_job(rollout_id)

    def rolled_out(self, rollout_id: str, observation: RolloutObservation) -> None:
        """The cluster reports the rollout available: `running`."""
        if self.is_current_rollout(rollout_id):
            self.transition(RUNNING, reason=None, deadline=None, drift=None, **counts(observation))

    def rollout_failed(
        self, rollout_id: str, reason: str, observation: RolloutObservation | None = None
    ) -> None:
        """The rollout cannot succeed: `failed` with the cluster's (or the step's) reason."""
        if self.is_current_rollout(rollout_id):
            observed = counts(observation) if observation else {}
            self.transition(FAILED, reason=reason, deadline=None, **observed)

    def overdue(self, deadline: datetime) -> None:
        """A rollout still going past its deadline (its progress deadline plus the time to
        hand the image over): `failed`."""
        self.transition(
            FAILED,
            reason=f"rollout did not finish by its deadline ({deadline.isoformat()})",
            deadline=None,
        )

    # --- what the cluster and the other services report ---------------------------

    def cluster_back(self, *, rollout_id: str, deadline: datetime) -> bool:
        """Its cluster runs again: a Deployment failed by the outage is rolled out again."""
        return self._cluster_back(rollout_id, deadline)

    def image_changed(self, image: ProjectedImage) -> bool:
        """Note a failed image on the Deployment (not torn down), and clear it when fixed."""
        note = image_trouble(image)
        if image.status == "failed":
            if self.state.status is FAILED or self.state.reason == note:
                return False  # a failed Deployment keeps the reason it failed with
            self.update(reason=note)
            return True
        if self.state.reason and self.state.reason.startswith(f"image {image.reference} failed"):
            self.update(reason=None)
            return True
        return False

    def observed(self, observation: RolloutObservation) -> bool:
        """Follow a running Deployment's live status: new counts, or `failed` with why."""
        if self.state.status is not RUNNING or observation.phase == "missing":
            return False
        if observation.phase == "failed":
            self.transition(
                FAILED,
                reason=observation.reason or "the rollout failed in the cluster",
                **counts(observation),
            )
            return True
        return self._refresh(counts(observation))

    def follow_live(self, observation: RolloutObservation, drift: str | None) -> bool:
        """What the reconcile loop saw of the live Deployment: its drift, then its status."""
        drifted = self.drift_seen(drift, missing=observation.phase == "missing")
        return self.observed(observation) or drifted
