"""Release: one helm installation of a chart onto a cluster; its lifecycle rules, free of I/O.

`pending` (the install) and `updating` (an upgrade, a rollback, or the return of its
cluster) end in `deployed` once helm did its part and every workload it renders is
available, or `failed` with the reason (helm's error, the cluster's, or the deadline's).
An uninstall leaves the status as it is until helm has removed the release
(`uninstalled`); a second DELETE then removes the record. Every helm operation has an id;
a job whose operation is no longer current changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Self

from slipway_contracts.commands import ReleaseSpec
from slipway_contracts.entities import (
    RELEASE_TRANSITIONS,
    Release,
    ReleaseRevision,
    ReleaseStatus,
    ReleaseWorkload,
)
from slipway_libs.aggregate import Aggregate
from slipway_libs.errors import Conflict, InvalidInput
from slipway_libs.statemachine import TransitionTable
from slipway_workload_manager.domain.ports import HelmRevision
from slipway_workload_manager.domain.rules import failed_by_outage

PENDING, DEPLOYED = ReleaseStatus.PENDING, ReleaseStatus.DEPLOYED
FAILED, UPDATING = ReleaseStatus.FAILED, ReleaseStatus.UPDATING
UNINSTALLED = ReleaseStatus.UNINSTALLED
LIVE = (PENDING, DEPLOYED, FAILED, UPDATING)
"""The statuses of a release helm knows (its name is taken in its namespace)."""


# helm's `chart` column is `<name>-<version>`; a semantic version may hold dashes itself.
_CHART_VERSION = re.compile(r"-(v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)$")


def spec_fields(spec: ReleaseSpec) -> dict[str, Any]:
    """The entity fields a POST or PUT sets."""
    return spec.model_dump()


def chart_version_of(chart: str) -> str | None:
    """The version in helm's `chart` column (`todo-0.1.0` -> `0.1.0`)."""
    found = _CHART_VERSION.search(chart)
    return found.group(1) if found else None


def history_of(
    revisions: Sequence[HelmRevision],
    release: Release,
    *,
    made: int | None,
    chart_version: str | None,
) -> list[ReleaseRevision]:
    """helm's revisions (oldest first) with what Slipway knows of each: the revision an
    operation just `made` has the release's chart, values and images; earlier ones keep
    what was recorded when they were made; one made outside Slipway has no values."""
    recorded = {entry.revision: entry for entry in release.history}
    history = []
    for revision in revisions:
        kept = recorded.get(revision.revision)
        known: dict[str, Any]
        if revision.revision == made:
            known = {
                "chart_id": release.chart_id,
                "chart_version": chart_version or chart_version_of(revision.chart),
                "values": release.values,
                "images": release.images,
            }
        elif kept is not None:
            known = kept.model_dump(include={"chart_id", "chart_version", "values", "images"})
        else:
            known = {
                "chart_id": release.chart_id,
                "chart_version": chart_version_of(revision.chart),
            }
        history.append(
            ReleaseRevision(
                revision=revision.revision,
                status=revision.status,
                updated_at=revision.updated,
                app_version=revision.app_version,
                description=revision.description,
                **known,
            )
        )
    return history


class ReleaseAggregate(Aggregate[Release]):
    table = TransitionTable.of("release", RELEASE_TRANSITIONS)
    in_flight = (PENDING, UPDATING)

    @classmethod
    def accept(
        cls, spec: ReleaseSpec, *, release_id: str, operation_id: str, deadline: datetime
    ) -> Self:
        """A new Release, `pending`, with its install queued."""
        return cls.create(
            Release,
            release_id,
            PENDING,
            operation_id=operation_id,
            deadline=deadline,
            **spec_fields(spec),
        )

    @property
    def where(self) -> str:
        """How users find it: `namespace/name`."""
        return f"{self.state.namespace}/{self.state.name}"

    def is_current(self, operation_id: str) -> bool:
        """Whether a helm job is still the one this release waits for."""
        return self.status != UNINSTALLED and self.state.operation_id == operation_id

    def revision_entry(self, revision: int) -> ReleaseRevision:
        """The recorded helm revision `revision`; InvalidInput naming `revision` otherwise."""
        for entry in self.state.history:
            if entry.revision == revision:
                return entry
        known = ", ".join(str(e.revision) for e in self.state.history) or "none yet"
        raise InvalidInput.field(
            "revision",
            f"release '{self.state.name}' has no revision {revision} (its revisions: {known})",
        )

    # --- changes a user asks for ------------------------------------------------------

    def _start(self, operation_id: str, deadline: datetime, **fields: Any) -> None:
        """An upgrade or a rollback: `updating`; refused while helm is busy with it."""
        if self.state.uninstalling:
            raise Conflict(
                f"release '{self.state.name}' is being uninstalled",
                {"current_status": self.status},
            )
        if self.status in self.in_flight:
            doing = "install" if self.status == PENDING else "upgrade or rollback"
            raise Conflict(
                f"release '{self.state.name}' is {self.status} (current status: {self.status}): "
                f"wait for its {doing} to end",
                {"current_status": self.status},
            )
        self.transition(
            UPDATING, operation_id=operation_id, deadline=deadline, reason=None, **fields
        )

    def upgrade(self, spec: ReleaseSpec, *, operation_id: str, deadline: datetime) -> None:
        """New values, images or chart: `updating`, helm's next revision queued."""
        self._start(operation_id, deadline, **spec_fields(spec))

    def rollback(self, revision: int, *, operation_id: str, deadline: datetime) -> None:
        """Back to an earlier revision, with its chart, values and images (`updating`)."""
        target = self.revision_entry(revision)
        self._start(
            operation_id,
            deadline,
            chart_id=target.chart_id,
            values=target.values,
            images=target.images,
        )

    def uninstall(self, *, operation_id: str) -> None:
        """Queue helm's uninstall: the status stays until it is done (any job in flight
        becomes stale)."""
        if self.status == UNINSTALLED:
            raise Conflict(f"release '{self.state.name}' is uninstalled already")
        self.update(operation_id=operation_id, deadline=None, uninstalling=True)

    def remove(self) -> None:
        """Delete the record of an uninstalled release."""
        if self.status != UNINSTALLED:
            raise Conflict(
                f"release '{self.state.name}' is {self.status}: it is uninstalled first",
                {"current_status": self.status},
            )
        self.mark_deleted()

    # --- what the helm job reports ------------------------------------------------------

    def recorded(
        self,
        operation_id: str,
        *,
        helm_revision: int | None,
        history: Sequence[ReleaseRevision],
        workloads: Sequence[ReleaseWorkload],
    ) -> bool:
        """helm did its part: its revision, the history and the rendered workloads (the
        status follows once they are available)."""
        if not self.is_current(operation_id):
            return False
        fields = {
            "helm_revision": helm_revision,
            "history": [entry.model_dump() for entry in history],
            "workloads": [workload.model_dump() for workload in workloads],
        }
        current = self.state.model_dump()
        if all(current[key] == value for key, value in fields.items()):
            return False
        self.update(**fields)
        return True

    def deployed(self, operation_id: str) -> None:
        """Every workload the revision renders is available: `deployed`."""
        if self.is_current(operation_id) and self.status in self.in_flight:
            self.transition(DEPLOYED, reason=None, deadline=None)

    def failed(self, operation_id: str, reason: str) -> None:
        """The operation cannot succeed: `failed` with why (a failed one gets the new why)."""
        if not self.is_current(operation_id):
            return
        if self.status == FAILED:
            if self.state.reason != reason or self.state.uninstalling:
                self.update(reason=reason, deadline=None, uninstalling=False)
            return
        self.transition(FAILED, reason=reason, deadline=None, uninstalling=False)

    def uninstalled(self, operation_id: str) -> None:
        """helm removed the release and its objects."""
        if self.is_current(operation_id):
            self.transition(
                UNINSTALLED, reason=None, deadline=None, workloads=[], uninstalling=False
            )

    def gone_with_cluster(self, reason: str) -> None:
        """Its cluster no longer exists: nothing is left to uninstall."""
        self.transition(UNINSTALLED, reason=reason, deadline=None, workloads=[], uninstalling=False)

    def overdue(self, deadline: datetime) -> None:
        """An operation still going past its deadline (its job died): `failed`."""
        self.transition(
            FAILED,
            reason=f"not deployed by its deadline ({deadline.isoformat()})",
            deadline=None,
        )

    # --- what the cluster reports ---------------------------------------------------------

    def cluster_down(self, reason: str) -> bool:
        """Its cluster stopped, broke or went: whatever it was doing, `failed` with why."""
        if self.status == UNINSTALLED:
            return False
        if self.status == FAILED:
            if failed_by_outage(self.state.reason) and self.state.reason != reason:
                self.update(reason=reason)  # stopped, then in error: say the latest
                return True
            return False
        self.transition(FAILED, reason=reason, deadline=None)
        return True

    def cluster_back(self, *, operation_id: str, deadline: datetime) -> bool:
        """Its cluster runs again: a release failed by the outage is upgraded again with
        what it records (helm's next revision), and its workloads followed."""
        if self.status != FAILED or not failed_by_outage(self.state.reason):
            return False
        self.transition(UPDATING, operation_id=operation_id, deadline=deadline, reason=None)
        return True

    def workload_failed(self, reason: str) -> bool:
        """A deployed release whose workload broke in the cluster: `failed` with why (not
        while helm uninstalls it: its workloads are going away on purpose)."""
        if self.status != DEPLOYED or self.state.uninstalling:
            return False
        self.transition(FAILED, reason=reason)
        return True
