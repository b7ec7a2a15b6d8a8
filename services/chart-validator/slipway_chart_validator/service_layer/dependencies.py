"""What the use cases work with: app.py builds it once from the real adapters (handlers get
it as FastStream `Context`), unit tests from fakes of the same ports."""

from __future__ import annotations

from dataclasses import dataclass

from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.domain.ports import ArchiveStore, ValidationTools
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_libs.unit_of_work import Repository, UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """Settings, the unit of work (one serves every task: each `async with uow:` is the
    opening task's own transaction), the chart repository, the archive store and the
    validation tools (helm, schemas, chart files)."""

    settings: ChartValidatorSettings
    uow: UnitOfWork
    charts: Repository[HelmChartAggregate]
    archives: ArchiveStore
    tools: ValidationTools
