"""Handing a chart's files to whoever installs it (the workload-manager): always as a
`.tgz`, so the installer needs neither this service's disk nor its database."""

from __future__ import annotations

import asyncio
import base64
import io
import tarfile
from pathlib import Path
from typing import Any

from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_contracts.queries import ChartSourceAnswer, ChartSourceQuery
from slipway_libs.errors import Conflict
from slipway_libs.unit_of_work import ok


def pack(chart_dir: Path, name: str) -> bytes:
    """The chart directory as a `.tgz` whose top folder is the chart's name (helm's layout)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(chart_dir, arcname=name)
    return buffer.getvalue()


async def chart_source(deps: Dependencies, query: ChartSourceQuery) -> dict[str, Any]:
    """The reply to a `source` query: the chart's files, as they are now."""
    chart = (await deps.charts.get(query.id)).state
    source = chart.source
    if source is None:
        raise Conflict(f"chart '{chart.name}' has no stored source")
    if source.archive_id is not None:
        data = await deps.archives.read(source.archive_id)
    else:
        chart_dir = await asyncio.to_thread(deps.tools.source.resolve, source.path or "")
        data = await asyncio.to_thread(pack, chart_dir, chart.name)
    answer = ChartSourceAnswer(
        id=chart.id,
        name=chart.name,
        version=chart.version,
        app_version=chart.app_version,
        archive=base64.b64encode(data).decode(),
    )
    return ok(answer.model_dump(mode="json"))
