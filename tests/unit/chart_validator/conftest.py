"""Use cases of the chart validator against the in-memory unit of work and small fakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.domain.ports import ValidationTools
from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_contracts import subjects
from tests.memory import InMemoryRepository, InMemoryUnitOfWork
from tests.unit.chart_validator.fakes import (
    FakeArchiveStore,
    FakeChartSource,
    FakeHelm,
    FakeSchemas,
)


@pytest.fixture
def deps(tmp_path: Path) -> Dependencies:
    """A chart root holding the directory `web`, fakes for every port, nothing stored. The
    use cases called with it share `deps.uow`: its `events`, `jobs` and `replies` show what
    they committed."""
    (tmp_path / "web").mkdir()
    return Dependencies(
        settings=ChartValidatorSettings(chart_roots=[tmp_path], archive_max_bytes=64),
        uow=InMemoryUnitOfWork(),
        charts=InMemoryRepository(HelmChartAggregate, subjects.HELM_CHART),
        archives=FakeArchiveStore(),
        tools=ValidationTools(FakeHelm(), FakeSchemas(), FakeChartSource()),
    )
