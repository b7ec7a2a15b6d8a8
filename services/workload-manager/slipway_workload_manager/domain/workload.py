"""What Deployments and Services share: an object in a cluster, taken there by a job (a
rollout, an apply), which the cluster's outage fails, which can drift behind Slipway's
back, and which a deletion leaves a note about."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, TypeVar

from slipway_contracts.entities import Deployment, Service
from slipway_libs.aggregate import Aggregate
from slipway_workload_manager.domain.rules import failed_by_outage

W = TypeVar("W", Deployment, Service)
FAILED = "failed"


class WorkloadAggregate(Aggregate[W]):
    # The status of a workload that is surely applied (`running`, `active`), and the
    # fields that say so, reset when it stops working.
    working: ClassVar[str]
    stopped_working: ClassVar[dict[str, Any]]
    # Its job: the field naming the one it waits for, the statuses while one is under way,
    # and the status a later one starts in (`updating`, `pending`).
    job_field: ClassVar[str]
    in_flight: ClassVar[tuple[str, ...]]
    rerun: ClassVar[str]

    @property
    def object_name(self) -> str:
        """How users find it in the cluster: `namespace/name`."""
        return f"{self.state.namespace}/{self.state.name}"

    @property
    def release_id(self) -> str | None:
        """The release whose chart renders it (its spec is the chart's), or None."""
        return self.state.release_id

    def rendered_again(self, fields: dict[str, Any], *, job_id: str, deadline: datetime) -> bool:
        """Its release's new revision renders it with `fields`: followed again unless it
        works already as rendered (then nothing changes)."""
        return self._respecify(fields, job_id, deadline)

    @property
    def broken(self) -> bool:
        """Drifted or failed: what a repair applies again."""
        return bool(self.state.drift) or self.status == FAILED

    def is_current_job(self, job_id: str) -> bool:
        """Whether a job is still the one this workload waits for."""
        return self.status in self.in_flight and getattr(self.state, self.job_field) == job_id

    def _run_again(self, job_id: str, deadline: datetime, **fields: Any) -> None:
        # A job in flight becomes stale; its outcome will be ignored.
        self.restart(
            self.rerun,
            in_flight=self.in_flight,
            **fields,
            **{self.job_field: job_id},
            deadline=deadline,
            reason=None,
        )

    def _respecify(self, fields: dict[str, Any], job_id: str, deadline: datetime) -> bool:
        """Apply a PUT; False when it changes nothing on a working one."""
        if self.status == self.working and not self._differs(fields):
            return False
        self._run_again(job_id, deadline, **fields)
        return True

    def _cluster_back(self, job_id: str, deadline: datetime) -> bool:
        """Its cluster runs again: one failed by the outage is taken there again."""
        if self.status != FAILED or not failed_by_outage(self.state.reason):
            return False
        self._run_again(job_id, deadline)
        return True

    def _differs(self, fields: dict[str, Any]) -> bool:
        current = self.state.model_dump()
        return any(current.get(key) != value for key, value in fields.items())

    def _refresh(self, fields: dict[str, Any]) -> bool:
        """Set the `fields` that differ; whether there were any."""
        if not self._differs(fields):
            return False
        self.update(**fields)
        return True

    def remove(self, note: str | None = None) -> None:
        """Delete the record; `note` says what became of its object in the cluster."""
        if note is not None:
            self.state = self.state.model_copy(update={"reason": note})
        self.mark_deleted()

    def cluster_down(self, reason: str) -> bool:
        """Its cluster stopped or broke: whatever it was doing, it is `failed` with why."""
        if self.status == FAILED:
            if failed_by_outage(self.state.reason) and self.state.reason != reason:
                self.update(reason=reason)  # stopped, then in error: say the latest
                return True
            return False
        self.transition(FAILED, reason=reason, deadline=None, **self.stopped_working)
        return True

    def drift_seen(self, drift: str | None, *, missing: bool = False) -> bool:
        """Record (or clear) what changed in the cluster behind Slipway's back. A working
        one whose object was deleted is `failed`: nothing serves any more."""
        if missing and self.status == self.working:
            self.transition(FAILED, reason=drift, drift=drift, **self.stopped_working)
            return True
        if drift != self.state.drift:
            self.update(drift=drift)
            return True
        return False
