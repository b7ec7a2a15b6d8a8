"""Request-reply handlers: one command or query in, the service's reply out."""

from __future__ import annotations

from typing import Annotated, Any

from faststream import Context
from faststream.nats import NatsRouter

from slipway_chart_validator.service import ChartService
from slipway_contracts import subjects
from slipway_contracts.commands import DeleteChart, RegisterChart, UpdateChart, ValidateChart
from slipway_contracts.queries import GetEntity, ListEntities

router = NatsRouter()
QUEUE = "chart-validator"
Charts = Annotated[ChartService, Context("charts")]
CHART = subjects.HELM_CHART


@router.subscriber(subjects.command(CHART, "create"), queue=QUEUE)
async def register_chart(command: RegisterChart, charts: Charts) -> dict[str, Any]:
    """Register a chart and queue its validation."""
    return await charts.create(command)


@router.subscriber(subjects.command(CHART, "update"), queue=QUEUE)
async def update_chart(command: UpdateChart, charts: Charts) -> dict[str, Any]:
    """Replace a chart's spec and validate it again."""
    return await charts.update(command)


@router.subscriber(subjects.command(CHART, "delete"), queue=QUEUE)
async def delete_chart(command: DeleteChart, charts: Charts) -> dict[str, Any]:
    """Remove a chart record and its stored archive."""
    return await charts.delete(command)


@router.subscriber(subjects.command(CHART, "validate"), queue=QUEUE)
async def validate_chart(command: ValidateChart, charts: Charts) -> dict[str, Any]:
    """Validate a chart again as its source is now."""
    return await charts.validate(command)


@router.subscriber(subjects.query(CHART, "get"), queue=QUEUE)
async def get_chart(query: GetEntity, charts: Charts) -> dict[str, Any]:
    return await charts.get(query)


@router.subscriber(subjects.query(CHART, "list"), queue=QUEUE)
async def list_charts(query: ListEntities, charts: Charts) -> dict[str, Any]:
    return await charts.list(query)
