"""`/api/helm-charts`: register, replace, re-validate, read and delete Helm charts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from slipway_contracts import subjects
from slipway_contracts.commands import ChartSpec
from slipway_contracts.entities import ChartStatus, HelmChart
from slipway_contracts.queries import Page
from slipway_gateway.entrypoints.http import (
    PROBLEM_RESPONSES,
    Bus,
    CommandId,
    IfMatch,
    entity_response,
    no_content,
)

router = APIRouter(prefix="/api/helm-charts", tags=["helm charts"], responses=PROBLEM_RESPONSES)
CHART = subjects.HELM_CHART


def location(chart_id: str) -> str:
    return f"{router.prefix}/{chart_id}"


@router.post("", status_code=202, response_model=HelmChart)
async def create_chart(spec: ChartSpec, bus: Bus, command_id: CommandId) -> JSONResponse:
    """Register a chart (a directory in a chart root, or a base64 `.tgz`) and queue its
    validation (202; poll it or watch the events)."""
    chart = await bus.request(
        subjects.command(CHART, "create"), spec.model_dump(mode="json"), command_id
    )
    return entity_response(chart, 202, location(chart["id"]))


@router.get("", response_model=Page)
async def list_charts(
    bus: Bus,
    status: ChartStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    """Charts oldest first; pass `next_cursor` back as `cursor` for the next page."""
    page = await bus.request(
        subjects.query(CHART, "list"), {"status": status, "cursor": cursor, "limit": limit}
    )
    return JSONResponse(page)


@router.get("/{chart_id}", response_model=HelmChart)
async def get_chart(chart_id: str, bus: Bus) -> JSONResponse:
    return entity_response(await bus.request(subjects.query(CHART, "get"), {"id": chart_id}))


@router.put("/{chart_id}", status_code=202, response_model=HelmChart)
async def replace_chart(
    chart_id: str, spec: ChartSpec, bus: Bus, command_id: CommandId, revision: IfMatch
) -> JSONResponse:
    """Replace the spec; every change validates the chart again (202)."""
    payload = {**spec.model_dump(mode="json"), "id": chart_id, "expected_revision": revision}
    chart = await bus.request(subjects.command(CHART, "update"), payload, command_id)
    return entity_response(chart, 202, location(chart_id))


@router.delete("/{chart_id}", status_code=204)
async def delete_chart(
    chart_id: str, bus: Bus, command_id: CommandId, revision: IfMatch
) -> Response:
    payload = {"id": chart_id, "expected_revision": revision}
    await bus.request(subjects.command(CHART, "delete"), payload, command_id)
    return no_content()


@router.post("/{chart_id}/validate", status_code=202, response_model=HelmChart)
async def validate_chart(
    chart_id: str, bus: Bus, command_id: CommandId, revision: IfMatch
) -> JSONResponse:
    """Validate the chart again as its source is now, e.g. after its files changed (202)."""
    payload = {"id": chart_id, "expected_revision": revision}
    chart = await bus.request(subjects.command(CHART, "validate"), payload, command_id)
    return entity_response(chart, 202, location(chart_id))
