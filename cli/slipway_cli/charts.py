"""`slipway charts`: validate, list, get Helm charts."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway_cli.client import api
from slipway_cli.entities import Kind
from slipway_cli.output import Format, OutputOption, show
from slipway_cli.waiting import TimeoutOption, WaitOption, follow, outcome, settled_in

PATH = "/api/helm-charts"
COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("version", "version"),
    ("namespace", "namespace"),
    ("status", "status"),
    ("updated", "last_updated"),
]

CHARTS = Kind(PATH, "chart", COLUMNS, statuses="validating, valid or invalid")
app = typer.Typer(help="Helm charts: validate a chart directory in the chart roots.")


@app.command()
def validate(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="chart directory, in the chart roots")],
    name: Annotated[str, typer.Option(help="chart name")],
    version: Annotated[str, typer.Option(help="chart version (semver)")],
    app_version: Annotated[str | None, typer.Option(help="default: the version")] = None,
    namespace: Annotated[str, typer.Option(help="namespace the chart belongs to")] = "default",
    description: Annotated[str | None, typer.Option(help="what the chart is")] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 300,
    output: OutputOption = Format.table,
) -> None:
    """Register a chart and validate it (--wait: exit 1 when it is invalid)."""
    body = {
        "name": name,
        "version": version,
        "app_version": app_version or version,
        "namespace": namespace,
        "source": {"path": path},
        **({"description": description} if description else {}),
    }
    chart = api(ctx).post(PATH, body)
    if wait:
        chart = follow(api(ctx), f"{PATH}/{chart['id']}", settled_in({"valid", "invalid"}), timeout)
        if chart["status"] != "valid":
            show(
                chart.get("findings") or [],
                output,
                [("severity", "severity"), ("rule", "rule"), ("message", "message")],
            )
        outcome(chart, {"valid"})
    show(chart, output)


CHARTS.add_list(app, "List charts.")
CHARTS.add_get(app, "Show one chart, with its findings.")
