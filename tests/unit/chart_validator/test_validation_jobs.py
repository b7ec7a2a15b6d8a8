"""The validation job: the verdict recorded, a stale job ignored, a failure made terminal;
and the deadline sweep of validations that never finished."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.domain.findings import Finding
from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_chart_validator.service_layer.validations import (
    expire_overdue_validations,
    give_up_validation,
    run_validation,
)
from slipway_contracts import subjects
from slipway_contracts.commands import ChartSpec
from slipway_contracts.entities import ChartSourceRef
from slipway_contracts.jobs import ValidateChartJob
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import PermanentError, RetryableError
from tests.unit.chart_validator.fakes import packed

CHART = subjects.HELM_CHART
SPEC = ChartSpec.model_validate(
    {
        "name": "web",
        "version": "1.0.0",
        "app_version": "1",
        "source": {"path": "web"},
        "values": {"replicas": 2},
        "kubernetes_version": "v1.31",
    }
)
JOB = ValidateChartJob(chart_id="c1", validation_id="v1")
LINT_ERROR = Finding("error", "helm.lint", "templates/: parse error", file="templates/x.yaml")


def put_validating(
    deps: Dependencies, source: ChartSourceRef | None = None, deadline_in_s: float = 300
) -> HelmChartAggregate:
    chart = HelmChartAggregate.register(
        SPEC,
        source or ChartSourceRef(path="web"),
        chart_id="c1",
        validation_id="v1",
        deadline=utcnow() + timedelta(seconds=deadline_in_s),
    )
    return deps.charts.put(chart)


async def test_a_chart_without_error_findings_becomes_valid(deps):
    put_validating(deps)

    await run_validation(deps, JOB)

    chart = await deps.charts.get("c1")
    assert (chart.status, chart.state.findings, chart.state.deadline) == ("valid", [], None)
    assert deps.uow.event_types() == [subjects.event(CHART, "valid")]
    assert deps.uow.events[0].payload["entityversion"] == 2
    helm = deps.tools.helm
    assert [(c.command, c.values, c.kube_version) for c in helm.calls] == [
        ("lint", {"replicas": 2}, "1.31.0"),
        ("template", {"replicas": 2}, "1.31.0"),
    ]


async def test_an_error_finding_makes_the_chart_invalid_with_the_findings(deps):
    put_validating(deps)
    deps.tools.helm.lint_findings = [LINT_ERROR]

    await run_validation(deps, JOB)

    chart = await deps.charts.get("c1")
    assert chart.status == "invalid"
    assert [(f.rule, f.file) for f in chart.state.findings] == [("helm.lint", "templates/x.yaml")]
    assert chart.state.reason == "1 error finding(s); see findings"
    assert deps.uow.event_types() == [subjects.event(CHART, "invalid")]


async def test_an_uploaded_chart_is_validated_from_the_archive_store(deps):
    deps.archives.files["a1"] = (packed("web"), utcnow())
    put_validating(deps, ChartSourceRef(archive_id="a1"))

    await run_validation(deps, JOB)

    assert (await deps.charts.get("c1")).status == "valid"
    lint = deps.tools.helm.calls[0]
    assert lint.chart_dir.name == "web" and lint.chart_dir.parent.name.startswith("slipway-chart-")


async def test_a_refused_source_makes_the_chart_invalid_naming_it(deps):
    put_validating(deps, ChartSourceRef(path="gone"))

    await run_validation(deps, JOB)

    chart = await deps.charts.get("c1")
    assert chart.status == "invalid"
    assert [(f.rule, f.message) for f in chart.state.findings] == [
        ("chart.source", "chart path 'gone' does not exist [not-found]")
    ]
    assert deps.tools.helm.calls == []


@pytest.mark.parametrize("stale", ["other validation", "judged", "gone"])
async def test_a_job_the_chart_no_longer_waits_for_changes_nothing(deps, stale):
    chart = put_validating(deps)
    if stale == "other validation":
        chart.revalidate(validation_id="v2", deadline=utcnow())
        deps.charts.put(chart)
    elif stale == "judged":
        chart.verdict("v1", [])
        deps.charts.put(chart)
    else:
        deps.charts.rows.clear()
    before = dict(deps.charts.rows)

    await run_validation(deps, JOB)
    await give_up_validation(deps, JOB, "too many attempts")

    assert deps.charts.rows == before
    assert deps.uow.events == []
    assert deps.tools.helm.calls == []


async def test_missing_helm_is_retryable_and_changes_nothing(deps):
    put_validating(deps)
    deps.tools.helm.missing = True

    with pytest.raises(RetryableError, match="helm cannot run: helm was not found"):
        await run_validation(deps, JOB)

    assert (await deps.charts.get("c1")).status == "validating"
    assert deps.uow.events == []


async def test_a_lost_archive_is_permanent_and_giving_up_makes_the_chart_invalid(deps):
    put_validating(deps, ChartSourceRef(archive_id="lost"))

    with pytest.raises(PermanentError) as failed:
        await run_validation(deps, JOB)
    await give_up_validation(deps, JOB, str(failed.value))

    chart = await deps.charts.get("c1")
    assert chart.status == "invalid"
    assert chart.state.reason == "the chart archive 'lost' is no longer stored"
    assert deps.uow.event_types() == [subjects.event(CHART, "invalid")]


async def test_the_deadline_sweep_fails_only_validations_past_their_deadline(deps):
    put_validating(deps, deadline_in_s=-1)
    late = await deps.charts.get("c1")
    on_time = HelmChartAggregate.register(
        SPEC.model_copy(update={"name": "api"}),
        ChartSourceRef(path="web"),
        chart_id="c2",
        validation_id="v1",
        deadline=utcnow() + timedelta(minutes=5),
    )
    deps.charts.put(on_time)

    assert await expire_overdue_validations(deps) == 1

    chart = await deps.charts.get("c1")
    assert chart.status == "invalid"
    deadline = late.state.deadline.isoformat()
    assert chart.state.reason == f"validation did not finish before its deadline ({deadline})"
    assert chart.state.deadline is None
    assert (await deps.charts.get("c2")).status == "validating"
    assert deps.uow.event_types() == [subjects.event(CHART, "invalid")]
    assert await expire_overdue_validations(deps) == 0
