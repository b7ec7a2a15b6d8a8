"""`slipway charts`: validate, list, get Helm charts."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway_cli.client import api
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


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="validating, valid or invalid")] = None,
    output: OutputOption = Format.table,
) -> None:
    """List charts."""
    show(list(api(ctx).items(PATH, status=status)), output, COLUMNS)


@app.command()
def get(
    ctx: typer.Context,
    chart: Annotated[str, typer.Argument(help="id or name")],
    output: OutputOption = Format.table,
) -> None:
    """Show one chart, with its findings."""
    show(api(ctx).find(PATH, chart, "chart"), output)
