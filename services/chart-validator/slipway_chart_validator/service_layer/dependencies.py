"""What the use cases work with: app.py builds it from the real adapters, unit tests from
fakes of the same ports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.domain.ports import ArchiveStore, ValidationTools
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_libs.unit_of_work import Repository, UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """Settings, the chart repository, the archive store, the validation tools (helm,
    schemas, chart files) and a unit of work.

    A unit of work serves one task at a time, so every handler call and periodic loop works
    on `for_one_task()`: a copy with a unit of work of its own.
    """

    settings: ChartValidatorSettings
    charts: Repository[HelmChartAggregate]
    archives: ArchiveStore
    tools: ValidationTools
    unit_of_work: Callable[[], UnitOfWork]
    uow: UnitOfWork = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uow", self.unit_of_work())

    def for_one_task(self) -> Dependencies:
        """The same dependencies with a fresh unit of work."""
        return replace(self)
