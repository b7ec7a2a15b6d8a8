"""Request-reply handlers: one command or query in, the use case's reply out."""

from __future__ import annotations

from typing import Any

from slipway_chart_validator.handlers.context import Deps
from slipway_chart_validator.service_layer import charts, sources
from slipway_contracts import subjects
from slipway_contracts.commands import DeleteChart, RegisterChart, UpdateChart, ValidateChart
from slipway_contracts.queries import ChartSourceQuery, GetEntity, ListEntities
from slipway_libs.worker import RequestHandlers

QUEUE = "chart-validator"
handlers = RequestHandlers(QUEUE)
CHART = subjects.HELM_CHART


@handlers.subscriber(subjects.command(CHART, "create"))
async def register_chart(command: RegisterChart, deps: Deps) -> dict[str, Any]:
    """Register a chart and queue its validation."""
    return await charts.register_chart(deps, command)


@handlers.subscriber(subjects.command(CHART, "update"))
async def update_chart(command: UpdateChart, deps: Deps) -> dict[str, Any]:
    """Replace a chart's spec and validate it again."""
    return await charts.update_chart(deps, command)


@handlers.subscriber(subjects.command(CHART, "delete"))
async def delete_chart(command: DeleteChart, deps: Deps) -> dict[str, Any]:
    """Remove a chart record and its stored archive."""
    return await charts.delete_chart(deps, command)


@handlers.subscriber(subjects.command(CHART, "validate"))
async def validate_chart(command: ValidateChart, deps: Deps) -> dict[str, Any]:
    """Validate a chart again as its source is now."""
    return await charts.revalidate_chart(deps, command)


@handlers.subscriber(subjects.query(CHART, "get"))
async def get_chart(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await charts.get_chart(deps, query)


@handlers.subscriber(subjects.query(CHART, "list"))
async def list_charts(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await charts.list_charts(deps, query)


@handlers.subscriber(subjects.query(CHART, "source"))
async def chart_source(query: ChartSourceQuery, deps: Deps) -> dict[str, Any]:
    """The chart's files as a base64 `.tgz`, for the workload-manager to install it."""
    return await sources.chart_source(deps, query)
