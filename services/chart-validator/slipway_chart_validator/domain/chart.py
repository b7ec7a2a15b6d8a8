"""HelmChart: its lifecycle rules, free of I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from slipway_contracts.commands import ChartSpec
from slipway_contracts.entities import (
    CHART_TRANSITIONS,
    ChartSourceRef,
    ChartStatus,
    Finding,
    HelmChart,
)
from slipway_libs.aggregate import Aggregate
from slipway_libs.errors import Conflict
from slipway_libs.statemachine import TransitionTable


def name_taken(namespace: str, name: str) -> Conflict:
    """The refusal of a second chart with the same name in a namespace."""
    return Conflict(
        f"a chart named '{name}' already exists in namespace '{namespace}'",
        {"namespace": namespace, "name": name},
    )


def spec_fields(spec: ChartSpec, source: ChartSourceRef) -> dict[str, Any]:
    """The entity fields a POST or PUT sets (the source as stored, not as uploaded)."""
    return {**spec.model_dump(exclude={"source"}), "source": source}


class HelmChartAggregate(Aggregate[HelmChart]):
    table = TransitionTable.of("helm_chart", CHART_TRANSITIONS)
    in_flight = (ChartStatus.VALIDATING,)

    @classmethod
    def register(
        cls,
        spec: ChartSpec,
        source: ChartSourceRef,
        *,
        chart_id: str,
        validation_id: str,
        deadline: datetime,
    ) -> Self:
        """A new chart, `validating`, with its first validation queued."""
        return cls.create(
            HelmChart,
            chart_id,
            ChartStatus.VALIDATING,
            validation_id=validation_id,
            deadline=deadline,
            **spec_fields(spec, source),
        )

    def _validate_again(self, validation_id: str, deadline: datetime, **fields: Any) -> None:
        # A validation still running becomes stale; its verdict will be ignored.
        self.restart(
            ChartStatus.VALIDATING,
            **fields,
            validation_id=validation_id,
            deadline=deadline,
            findings=[],
            reason=None,
        )

    def respecify(
        self, spec: ChartSpec, source: ChartSourceRef, *, validation_id: str, deadline: datetime
    ) -> None:
        """Apply a PUT: any change to a chart means a fresh validation."""
        self._validate_again(validation_id, deadline, **spec_fields(spec, source))

    def revalidate(self, *, validation_id: str, deadline: datetime) -> None:
        """Validate the chart again as it is now (its files may have changed on disk)."""
        self._validate_again(validation_id, deadline)

    @property
    def archive_id(self) -> str | None:
        """The id of the uploaded archive the chart's files come from, if any."""
        return self.state.source.archive_id if self.state.source else None

    def is_current_validation(self, validation_id: str) -> bool:
        """Whether a validation job is still the one this chart waits for."""
        return (
            self.state.status is ChartStatus.VALIDATING
            and self.state.validation_id == validation_id
        )

    def verdict(self, validation_id: str, findings: list[Finding]) -> None:
        """Record a finished validation: any error finding makes the chart invalid."""
        if not self.is_current_validation(validation_id):
            return
        errors = sum(1 for f in findings if f.severity == "error")
        target = ChartStatus.INVALID if errors else ChartStatus.VALID
        reason = f"{errors} error finding(s); see findings" if errors else None
        self.transition(target, findings=findings, reason=reason, deadline=None)

    def validation_failed(self, validation_id: str, reason: str) -> None:
        """A validation that could not run to the end: invalid, with the reason."""
        if self.is_current_validation(validation_id):
            self.transition(ChartStatus.INVALID, reason=reason, findings=[], deadline=None)

    def overdue(self, deadline: datetime) -> None:
        """A validation still running past its deadline: invalid, with the reason."""
        self.transition(
            ChartStatus.INVALID,
            reason=f"validation did not finish before its deadline ({deadline.isoformat()})",
            deadline=None,
        )
