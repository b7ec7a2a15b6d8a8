"""Validation jobs: run the pipeline on a chart's source and record the verdict, or give
up with the reason; and the deadline sweep of validations that never finished."""

from __future__ import annotations

from functools import partial

from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_chart_validator.service_layer.pipeline import (
    ValidationRequest,
    validate_chart_archive,
    validate_chart_path,
)
from slipway_contracts.entities import ChartSourceRef, ChartStatus, Finding, HelmChart
from slipway_contracts.jobs import ValidateChartJob
from slipway_libs.errors import RetryableError
from slipway_libs.process import ToolUnavailable
from slipway_libs.unit_of_work import expire_overdue, retrying


async def _findings(deps: Dependencies, chart: HelmChart) -> list[Finding]:
    """The pipeline's findings on the chart's source; helm missing is retryable."""
    request = ValidationRequest(
        expected_name=chart.name,
        values=chart.values,
        expected_version=chart.version,
        kubernetes_version=chart.kubernetes_version,
        rules=deps.settings.rule_config,
    )
    source = chart.source or ChartSourceRef()
    try:
        if source.archive_id:
            data = await deps.archives.read(source.archive_id)
            found = await validate_chart_archive(deps.tools, data, request)
        else:
            found = await validate_chart_path(deps.tools, source.path or "", request)
    except ToolUnavailable as exc:
        raise RetryableError(f"helm cannot run: {exc}") from exc
    return [Finding.model_validate(f.as_dict()) for f in found]


async def _record_verdict(
    deps: Dependencies, job: ValidateChartJob, findings: list[Finding]
) -> None:
    async with deps.uow:
        if chart := await deps.charts.find(job.chart_id):
            chart.verdict(job.validation_id, findings)
        await deps.uow.commit()


async def _record_failure(deps: Dependencies, job: ValidateChartJob, reason: str) -> None:
    async with deps.uow:
        if chart := await deps.charts.find(job.chart_id):
            chart.validation_failed(job.validation_id, reason)
        await deps.uow.commit()


async def run_validation(deps: Dependencies, job: ValidateChartJob) -> None:
    """Validate the chart the job names and record the verdict: `valid`, or `invalid`
    with the findings. A job for a chart that is gone, judged already or changed since (a
    newer validation is queued) changes nothing."""
    chart = await deps.charts.find(job.chart_id)
    if chart is None or not chart.is_current_validation(job.validation_id):
        return
    findings = await _findings(deps, chart.state)
    await retrying(partial(_record_verdict, deps, job, findings))


async def give_up_validation(deps: Dependencies, job: ValidateChartJob, reason: str) -> None:
    """A validation that could not run to the end: the chart becomes `invalid` with the
    reason, if it still waits for this validation."""
    await retrying(partial(_record_failure, deps, job, reason))


async def expire_overdue_validations(deps: Dependencies) -> int:
    """Fail every validation still running past its deadline; how many it failed."""
    return await expire_overdue(deps.uow, deps.charts, status=ChartStatus.VALIDATING)
