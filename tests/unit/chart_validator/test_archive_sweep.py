"""The orphan-archive sweep: only old archives no chart refers to are removed."""

from __future__ import annotations

from datetime import timedelta

from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.service_layer.archives import sweep_orphan_archives
from slipway_contracts.commands import ChartSpec
from slipway_contracts.entities import ChartSourceRef
from slipway_libs.aggregate import utcnow
from tests.unit.chart_validator.fakes import packed

SPEC = ChartSpec.model_validate(
    {"name": "web", "version": "1.0.0", "app_version": "1", "source": {"path": "web"}}
)


def stored(deps, archive_id: str, minutes_ago: float) -> None:
    deps.archives.files[archive_id] = (packed("web"), utcnow() - timedelta(minutes=minutes_ago))


async def test_the_sweep_removes_only_old_archives_no_chart_refers_to(deps):
    assert deps.settings.archive_orphan_grace_s == 600  # ten minutes by default
    chart = HelmChartAggregate.register(
        SPEC,
        ChartSourceRef(archive_id="in-use"),
        chart_id="c1",
        validation_id="v1",
        deadline=utcnow(),
    )
    deps.charts.put(chart)
    stored(deps, "in-use", minutes_ago=11)
    stored(deps, "crashed", minutes_ago=11)  # its command died before the chart committed
    stored(deps, "in-flight", minutes_ago=9)  # its command may still commit

    assert await sweep_orphan_archives(deps) == 1

    assert set(deps.archives.files) == {"in-use", "in-flight"}
    assert await sweep_orphan_archives(deps) == 0
