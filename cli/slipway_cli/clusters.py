"""`slipway clusters`: create, start, stop, restart, list clusters; print a kubeconfig."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway_cli.client import api
from slipway_cli.entities import Kind
from slipway_cli.output import Format, OutputOption
from slipway_cli.waiting import TimeoutOption, WaitOption, settled_in

PATH = "/api/minikube-clusters"
COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("driver", "driver"),
    ("status", "status"),
    ("operation", "operation.action"),
    ("updated", "last_updated"),
]
SETTLED = settled_in({"running", "stopped", "error"})

CLUSTERS = Kind(PATH, "cluster", COLUMNS, statuses="running, stopped or error")
app = typer.Typer(help="Clusters: minikube, an attached kubeconfig, or simulated (sim).")
ClusterArgument = Annotated[str, typer.Argument(help="id or name")]


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="cluster name")],
    driver: Annotated[str, typer.Option(help="minikube, kubeconfig or sim")] = "sim",
    cpus: Annotated[int | None, typer.Option(help="cores")] = None,
    memory: Annotated[int | None, typer.Option(help="MiB")] = None,
    disk_size: Annotated[int | None, typer.Option(help="MiB")] = None,
    kubernetes_version: Annotated[str | None, typer.Option(help="e.g. v1.32.0")] = None,
    kubeconfig: Annotated[
        str | None, typer.Option(help="kubeconfig file (driver kubeconfig)")
    ] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context")] = None,
    start: Annotated[bool, typer.Option(help="start it once created")] = True,
    wait: WaitOption = False,
    timeout: TimeoutOption = 900,
    output: OutputOption = Format.table,
) -> None:
    """Register a cluster (and start it)."""
    fields = {
        "cpus": cpus,
        "memory": memory,
        "disk_size": disk_size,
        "kubernetes_version": kubernetes_version,
        "kubeconfig": kubeconfig,
        "context": context,
    }
    body = {"name": name, "driver": driver, "start": start}
    body.update({key: value for key, value in fields.items() if value is not None})
    good = {"running"} if start else {"running", "stopped"}
    CLUSTERS.finish(ctx, api(ctx).post(PATH, body), wait, timeout, output, SETTLED, good)


def act(
    ctx: typer.Context, ref: str, action: str, good: str, wait: bool, timeout: float, output: Format
) -> None:
    cluster = CLUSTERS.find(ctx, ref)
    cluster = api(ctx).post(f"{PATH}/{cluster['id']}/{action}")
    CLUSTERS.finish(ctx, cluster, wait, timeout, output, SETTLED, {good})


@app.command("start")
def start_(
    ctx: typer.Context,
    cluster: ClusterArgument,
    wait: WaitOption = False,
    timeout: TimeoutOption = 900,
    output: OutputOption = Format.table,
) -> None:
    """Start a stopped cluster."""
    act(ctx, cluster, "start", "running", wait, timeout, output)


@app.command()
def stop(
    ctx: typer.Context,
    cluster: ClusterArgument,
    wait: WaitOption = False,
    timeout: TimeoutOption = 900,
    output: OutputOption = Format.table,
) -> None:
    """Stop a running cluster (its objects are kept)."""
    act(ctx, cluster, "stop", "stopped", wait, timeout, output)


@app.command()
def restart(
    ctx: typer.Context,
    cluster: ClusterArgument,
    wait: WaitOption = False,
    timeout: TimeoutOption = 900,
    output: OutputOption = Format.table,
) -> None:
    """Restart a cluster."""
    act(ctx, cluster, "restart", "running", wait, timeout, output)


CLUSTERS.add_list(app, "List clusters.")


@app.command()
def kubeconfig(ctx: typer.Context, cluster: ClusterArgument) -> None:
    """Print a cluster's kubeconfig (operator role): `slipway clusters kubeconfig local > kc`."""
    found = CLUSTERS.find(ctx, cluster)
    typer.echo(api(ctx).text(f"{PATH}/{found['id']}/kubeconfig"), nl=False)
