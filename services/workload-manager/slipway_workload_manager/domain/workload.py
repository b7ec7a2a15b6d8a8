"""What Deployments and Services share: an object in a cluster, which the cluster's outage
fails, which can drift behind Slipway's back, and which a deletion leaves a note about."""

from __future__ import annotations

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

    @property
    def object_name(self) -> str:
        """How users find it in the cluster: `namespace/name`."""
        return f"{self.state.namespace}/{self.state.name}"

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
