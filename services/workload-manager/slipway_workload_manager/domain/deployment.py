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
from slipway_libs.aggregate import utcnow
from slipway_workload_manager.domain.ports import RolloutObservation
from slipway_workload_manager.domain.projections import ProjectedImage
from slipway_workload_manager.domain.rules import failed_by_outage
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
    table = DEPLOYMENT_TRANSITIONS
    working = RUNNING
    stopped_working: ClassVar[dict[str, Any]] = {"available_replicas": 0, "ready_replicas": 0}

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
        now = utcnow()
        state = Deployment(
            id=deployment_id,
            created_at=now,
            last_updated=now,
            revision=1,
            status=PENDING,
            rollout_id=rollout_id,
            deadline=deadline,
            **spec_fields(spec, image),
        )
        deployment = cls(state)
        deployment.mark_created()
        return deployment

    # --- changes a user asks for ------------------------------------------------

    def _roll_again(self, rollout_id: str, deadline: datetime, **fields: Any) -> None:
        fresh = {**fields, "rollout_id": rollout_id, "deadline": deadline, "reason": None}
        if self.state.status in ROLLING:
            # The rollout in flight becomes stale; its outcome will be ignored.
            self.update(**fresh)
        else:
            self.transition(UPDATING, **fresh)

    def _differs(self, fields: dict[str, Any]) -> bool:
        current = self.state.model_dump()
        return any(current.get(key) != value for key, value in fields.items())

    def respecify(
        self,
        spec: DeploymentSpec,
        image: ProjectedImage,
        *,
        rollout_id: str,
        deadline: datetime,
    ) -> bool:
        """Apply a PUT; returns False when it changes nothing on a running Deployment."""
        fields = spec_fields(spec, image)
        if self.state.status is RUNNING and not self._differs(fields):
            return False
        self._roll_again(rollout_id, deadline, **fields)
        return True

    def scale(self, replicas: int, *, rollout_id: str, deadline: datetime) -> bool:
        """Change the replica count; returns False when a running Deployment has it already."""
        if self.state.status is RUNNING and self.state.replicas == replicas:
            return False
        self._roll_again(rollout_id, deadline, replicas=replicas)
        return True

    def repair(self, *, rollout_id: str, deadline: datetime) -> None:
        """Apply the recorded spec again, undoing changes made behind Slipway's back."""
        self._roll_again(rollout_id, deadline, drift=None)

    # --- what the rollout job reports ---------------------------------------------

    def is_current_rollout(self, rollout_id: str) -> bool:
        """Whether a rollout job is still the one this Deployment waits for."""
        return self.state.status in ROLLING and self.state.rollout_id == rollout_id

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

    def expire(self, now: datetime, margin_s: float) -> bool:
        """Fail a rollout still going past its deadline."""
        deadline = self.state.deadline
        if self.state.status not in ROLLING or deadline is None or deadline > now:
            return False
        limit = self.state.progress_deadline_seconds + margin_s
        self.transition(
            FAILED, reason=f"rollout did not finish within {limit:.0f} s", deadline=None
        )
        return True

    # --- what the cluster and the other services report ---------------------------

    def cluster_back(self, *, rollout_id: str, deadline: datetime) -> bool:
        """Its cluster runs again: a Deployment failed by the outage is rolled out again."""
        if self.state.status is not FAILED or not failed_by_outage(self.state.reason):
            return False
        self._roll_again(rollout_id, deadline)
        return True

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
        fresh = counts(observation)
        if self._differs(fresh):
            self.update(**fresh)
            return True
        return False
