"""The `slipway` command: global options, the command groups, and `slipway status`."""

from __future__ import annotations

from collections import Counter
from importlib import metadata
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from slipway_cli import (
    advice,
    approvals,
    audit,
    bridge,
    charts,
    clusters,
    deployments,
    events,
    images,
    tokens,
    webhooks,
)
from slipway_cli.client import CliError, api, config_of, problem_of
from slipway_cli.output import Format, OutputOption, show

HELP = """Drive Slipway from the shell, through its REST API.

Configuration: --url/--token, then SLIPWAY_URL/SLIPWAY_TOKEN, then the embedded stack's admin token (.slipway/admin.token here, else under SLIPWAY_STATE_DIR).

Shell completion: `slipway --install-completion` (bash, zsh, fish, PowerShell).
"""


class Slipway(TyperGroup):
    """The root command: an API problem or a failed operation is printed, exit status 1,
    never a traceback (usage errors stay typer's: exit status 2)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            for line in error.lines():
                typer.echo(line, err=True)
            raise typer.Exit(1) from None


app = typer.Typer(cls=Slipway, help=HELP, no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(images.app, name="images")
app.add_typer(charts.app, name="charts")
app.add_typer(clusters.app, name="clusters")
app.add_typer(deployments.app, name="deployments")
app.add_typer(tokens.app, name="tokens")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(approvals.app, name="approvals")
app.add_typer(advice.app, name="advice")
app.command()(deployments.deploy)
app.command()(deployments.scale)
app.command()(deployments.expose)
app.command()(audit.audit)
app.command()(events.events)

ENTITIES = {
    "images": images.PATH,
    "charts": charts.PATH,
    "clusters": clusters.PATH,
    "deployments": deployments.PATH,
    "services": deployments.SERVICES,
    "releases": "/api/releases",
}


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"slipway {metadata.version('slipway-cli')}")
        raise typer.Exit()


@app.callback()
def options(
    url: Annotated[
        str | None, typer.Option(help="the gateway (env SLIPWAY_URL; default 127.0.0.1:8080)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="API token (env SLIPWAY_TOKEN)", show_default=False)
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=print_version, is_eager=True, help="and exit")
    ] = False,
) -> None:
    """Read lazily by `client.api` from the root context's params."""


@app.command()
def status(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """Is Slipway ready (NATS, MongoDB, each service)? How many of each entity, by status."""
    client = api(ctx)
    response = client.http.get("/readyz")
    ready: dict[str, Any] = response.json() if response.is_success else {"status": "not ready"}
    problem = None if response.is_success else problem_of(response)
    counts = []
    for kind, path in ENTITIES.items():
        by_status = Counter(item.get("status", "?") for item in client.items(path))
        counts.append({"entity": kind, "total": sum(by_status.values()), **by_status})
    report = {"ready": ready, "url": str(client.http.base_url), "counts": counts}
    if output is not Format.table:
        show(report, output)
    else:
        state = ready.get("checks") or {}
        checks = ", ".join(f"{name} {value}" for name, value in state.items())
        typer.echo(f"{report['url']}: {ready['status']}" + (f" ({checks})" if checks else ""))
        statuses = sorted({key for row in counts for key in row} - {"entity", "total"})
        columns = [("entity", "entity"), ("total", "total"), *((s, s) for s in statuses)]
        show(counts, output, columns)
    if problem:
        raise problem


@app.command(name="mcp")
def mcp_stdio(ctx: typer.Context) -> None:
    """Serve Slipway's MCP tools, resources and prompts on stdin/stdout, for desktop MCP
    clients; every request goes to the gateway's /mcp with this CLI's URL and token."""
    bridge.run(config_of(ctx))


def main() -> None:
    """The console script `slipway`."""
    app()
