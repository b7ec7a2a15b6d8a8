"""MinikubeCluster: its lifecycle rules, free of I/O.

A cluster is `stopped`, `running` or `error`. Starting, stopping, restarting and deleting
take time, so each runs as an operation (`operation`: id, action, deadline, progress) while
the status keeps saying what the cluster is. One operation at a time; every operation
ends by its deadline, in the status it reached (a delete: the cluster gone) or in `error`
with the reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from slipway_contracts.commands import ClusterSpec
from slipway_contracts.entities import (
    CLUSTER_TRANSITIONS,
    ClusterDriverName,
    ClusterOperation,
    ClusterStatus,
    MinikubeCluster,
)
from slipway_libs.aggregate import Aggregate, utcnow
from slipway_libs.errors import Conflict
from slipway_libs.statemachine import TransitionTable

Action = Literal["start", "stop", "restart", "delete"]
INLINE_KUBECONFIG = "<inline>"
"""What an attached cluster's `kubeconfig` says when its kubeconfig came as content: the
content itself is kept sealed apart from the entity (see ports.ClusterCredentials)."""
PROGRESS_LINES_KEPT = 20
ATTACHED = (
    "cluster '{name}' is attached through a kubeconfig: Slipway does not {action} attached "
    "clusters; {action} it with its own tooling (its health is tracked by probing it)"
)


def overdue_reason(operation: ClusterOperation) -> str:
    """Why an operation that ran out of time failed: "start did not finish within 600 s"."""
    # Rounded: the deadline is set a few microseconds before or after `started_at`.
    allowed = round((operation.deadline - operation.started_at).total_seconds(), 3)
    return f"{operation.action} did not finish within {allowed:g} s"


class ClusterAggregate(Aggregate[MinikubeCluster]):
    table = TransitionTable.of("minikube_cluster", CLUSTER_TRANSITIONS)
    # An operation may be in flight whatever the status says (a start leaves a cluster
    # `stopped` until it is up): its deadline, not the status, tells whether it is due.
    in_flight = tuple(ClusterStatus)

    @classmethod
    def register(
        cls,
        spec: ClusterSpec,
        *,
        cluster_id: str,
        start: ClusterOperation | None = None,
    ) -> Self:
        """A new cluster, `stopped`; with `start` its first start is already in flight.
        A kubeconfig given as content is not part of the entity: it says `<inline>`."""
        fields = spec.model_dump(include=set(ClusterSpec.model_fields) - {"kubeconfig_data"})
        if spec.kubeconfig_data is not None:
            fields["kubeconfig"] = INLINE_KUBECONFIG
        return cls.create(
            MinikubeCluster, cluster_id, ClusterStatus.STOPPED, operation=start, **fields
        )

    # --- facts ------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def attached(self) -> bool:
        """Attached through a kubeconfig: something else runs it, Slipway only watches."""
        return self.state.driver is ClusterDriverName.KUBECONFIG

    def is_current_operation(self, operation_id: str) -> bool:
        """Whether an operation job is still the one this cluster waits for."""
        return self.state.operation is not None and self.state.operation.id == operation_id

    # --- guards -------------------------------------------------------------------

    def _conflict(self, message: str) -> Conflict:
        return Conflict(message, {"current_status": self.status})

    def _check_idle(self, doing: str) -> None:
        operation = self.state.operation
        if operation is not None:
            raise Conflict(
                f"cluster '{self.name}' is busy: a {operation.action} is in flight (started "
                f"{operation.started_at.isoformat()}, deadline {operation.deadline.isoformat()});"
                f" wait for it to end before you {doing}",
                {"current_status": self.status, "operation": operation.action},
            )

    def check_action(self, action: Action) -> None:
        """Raise Conflict unless `action` may start now (the message names the status)."""
        if action == "delete":  # whatever the status; an attached cluster is only detached
            self._check_idle("delete it")
            return
        if self.attached:
            raise Conflict(
                ATTACHED.format(name=self.name, action=action),
                {"current_status": self.status, "driver": self.state.driver},
            )
        self._check_idle(f"{action} it")
        status = self.state.status
        if action == "start" and status is ClusterStatus.RUNNING:
            raise self._conflict(f"cluster '{self.name}' is running; there is nothing to start")
        if action == "stop" and status is ClusterStatus.STOPPED:
            raise self._conflict(f"cluster '{self.name}' is stopped; there is nothing to stop")
        if action == "restart" and status is ClusterStatus.STOPPED:
            raise self._conflict(f"cluster '{self.name}' is stopped; start it instead")

    def require_running(self, purpose: str) -> None:
        """Raise Conflict unless the cluster is running, e.g. to hand out its kubeconfig."""
        if self.state.status is not ClusterStatus.RUNNING:
            raise self._conflict(
                f"cluster '{self.name}' is {self.status}; it must be running to {purpose}"
            )

    # --- operations ---------------------------------------------------------------

    def begin(self, action: Action, *, operation_id: str, deadline: datetime) -> None:
        """Put `action` in flight (guarded by `check_action`); a job carries it out."""
        self.check_action(action)
        operation = ClusterOperation(
            id=operation_id, action=action, started_at=utcnow(), deadline=deadline
        )
        self.update(operation=operation)

    def record_progress(self, operation_id: str, lines: list[str]) -> None:
        """Keep the latest progress lines of the driver on the operation."""
        operation = self.state.operation
        if not lines or operation is None or operation.id != operation_id:
            return
        kept = [*operation.progress, *lines][-PROGRESS_LINES_KEPT:]
        self.update(operation=operation.model_copy(update={"progress": kept}))

    def stopped_for_restart(self, operation_id: str) -> None:
        """A restart has stopped the cluster; the operation goes on to start it."""
        if self.is_current_operation(operation_id) and self.state.status is not (
            ClusterStatus.STOPPED
        ):
            self.transition(ClusterStatus.STOPPED, api_server=None)

    def operation_succeeded(self, operation_id: str, *, api_server: str | None) -> None:
        """The driver finished: a start or restart leaves it running, a stop stopped, a delete
        removes it."""
        operation = self.state.operation
        if operation is None or operation.id != operation_id:
            return  # stale: expired or replaced meanwhile
        if operation.action == "delete":
            self.mark_deleted()
        elif operation.action == "stop":
            self.move(ClusterStatus.STOPPED, operation=None, reason=None, api_server=None)
        else:
            self.move(
                ClusterStatus.RUNNING,
                operation=None,
                reason=None,
                api_server=api_server,
                last_probe=utcnow(),
            )

    def operation_failed(self, operation_id: str, reason: str) -> None:
        """The operation cannot succeed (or gave up): `error`, with the reason."""
        if self.is_current_operation(operation_id):
            self.move(ClusterStatus.ERROR, operation=None, reason=reason)

    def deadline(self) -> datetime | None:
        """When the operation in flight must be over (None between operations)."""
        operation = self.state.operation
        return operation.deadline if operation is not None else None

    def overdue(self, deadline: datetime) -> None:
        """The operation outlived its deadline: `error`, saying how long it was allowed."""
        operation = self.state.operation
        if operation is not None:
            self.operation_failed(operation.id, overdue_reason(operation))

    # --- health -------------------------------------------------------------------

    def observe(
        self,
        *,
        healthy: bool,
        reason: str | None,
        seen_revision: int,
        api_server: str | None = None,
    ) -> bool:
        """Apply a health probe taken at `seen_revision`: a failing running cluster goes
        to `error`, a recovered one back to `running`. A probe of an older revision, or
        taken while an operation runs, says nothing about the cluster as it is now."""
        if self.revision != seen_revision or self.state.operation is not None:
            return False
        status = self.state.status
        if healthy:
            if status is ClusterStatus.RUNNING:
                return False
            if status is ClusterStatus.STOPPED and not self.attached:
                return False  # something answers, but Slipway did not start it: stays stopped
            self.transition(
                ClusterStatus.RUNNING,
                reason=None,
                api_server=api_server or self.state.api_server,
                last_probe=utcnow(),
            )
            return True
        # An errored cluster keeps the reason it failed with (a failed start says more
        # than a later "not running").
        if status is ClusterStatus.RUNNING or (status is ClusterStatus.STOPPED and self.attached):
            self.transition(
                ClusterStatus.ERROR,
                reason=reason or "the cluster did not answer its health probe",
                last_probe=utcnow(),
            )
            return True
        return False
