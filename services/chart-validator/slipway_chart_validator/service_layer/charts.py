"""Charts: register, update, delete and validate again (commands); get and list (queries).

Every change of a chart queues a fresh validation (see `validations.py` for the job).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from slipway_chart_validator.domain.chart import HelmChartAggregate, name_taken
from slipway_chart_validator.service_layer.archives import dropped_on_failure, store_source
from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_contracts import subjects
from slipway_contracts.commands import (
    ChartSpec,
    DeleteChart,
    RegisterChart,
    UpdateChart,
    ValidateChart,
)
from slipway_contracts.jobs import ValidateChartJob
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.messaging import entity_reply, page_reply
from slipway_libs.unit_of_work import UnitOfWork, check_if_match, idempotent

VALIDATE_JOB = subjects.job(subjects.HELM_CHART, "validate")


def _deadline(settings: ChartValidatorSettings) -> datetime:
    return utcnow() + timedelta(seconds=settings.validation_timeout_s)


def _queue_validation(uow: UnitOfWork, chart: HelmChartAggregate) -> None:
    job = ValidateChartJob(chart_id=chart.id, validation_id=chart.state.validation_id or "")
    uow.queue_job(VALIDATE_JOB, job, msg_id=job.validation_id)


async def _refuse_taken_name(
    deps: Dependencies, spec: ChartSpec, chart_id: str | None = None
) -> None:
    holders = await deps.charts.matching(namespace=spec.namespace, name=spec.name)
    if any(holder.id != chart_id for holder in holders):
        raise name_taken(spec.namespace, spec.name)


async def _chart_of(
    deps: Dependencies, command: UpdateChart | DeleteChart | ValidateChart
) -> HelmChartAggregate:
    """The chart a command is about, at the revision the client expects (If-Match)."""
    chart = await deps.charts.get(command.id)
    check_if_match(chart, command.expected_revision)
    return chart


@idempotent
async def register_chart(deps: Dependencies, command: RegisterChart) -> dict[str, Any]:
    """Register a chart, `validating`, and queue its validation; Conflict when its
    namespace has a chart of that name already."""
    source = await store_source(deps, command)
    async with dropped_on_failure(deps, source), deps.uow:
        await _refuse_taken_name(deps, command)
        chart = HelmChartAggregate.register(
            command,
            source,
            chart_id=context.new_id(),
            validation_id=context.new_id(),
            deadline=_deadline(deps.settings),
        )
        deps.charts.add(chart)
        _queue_validation(deps.uow, chart)
        return await deps.uow.commit(answer=chart.snapshot())


@idempotent
async def update_chart(deps: Dependencies, command: UpdateChart) -> dict[str, Any]:
    """Replace a chart's spec and validate it again; then drop the archive it replaced."""
    spec = ChartSpec.model_validate(command.model_dump(include=set(ChartSpec.model_fields)))
    source = await store_source(deps, spec)
    async with dropped_on_failure(deps, source), deps.uow:
        chart = await _chart_of(deps, command)
        await _refuse_taken_name(deps, spec, chart.id)
        replaced = chart.archive_id
        chart.respecify(
            spec, source, validation_id=context.new_id(), deadline=_deadline(deps.settings)
        )
        _queue_validation(deps.uow, chart)
        answer = await deps.uow.commit(answer=chart.snapshot())
    if replaced:
        await deps.archives.drop(replaced)
    return answer


@idempotent
async def delete_chart(deps: Dependencies, command: DeleteChart) -> dict[str, Any]:
    """Remove a chart record, then its stored archive."""
    async with deps.uow:
        chart = await _chart_of(deps, command)
        chart.mark_deleted()
        answer = await deps.uow.commit(answer=chart.snapshot())
    if chart.archive_id:
        await deps.archives.drop(chart.archive_id)
    return answer


@idempotent
async def revalidate_chart(deps: Dependencies, command: ValidateChart) -> dict[str, Any]:
    """Validate a chart again as its source is now (its files may have changed on disk)."""
    async with deps.uow:
        chart = await _chart_of(deps, command)
        chart.revalidate(validation_id=context.new_id(), deadline=_deadline(deps.settings))
        _queue_validation(deps.uow, chart)
        return await deps.uow.commit(answer=chart.snapshot())


# slipway_libs.messaging annotates the MongoDB Repository; every Repository port answers.
async def get_chart(deps: Dependencies, query: GetEntity) -> dict[str, Any]:
    """The reply to a `get` query: the chart (NotFound when there is none)."""
    return await entity_reply(deps.charts, query.id)


async def list_charts(deps: Dependencies, query: ListEntities) -> dict[str, Any]:
    """The reply to a `list` query: one page of charts, oldest first, and the next cursor."""
    return await page_reply(deps.charts, query)
