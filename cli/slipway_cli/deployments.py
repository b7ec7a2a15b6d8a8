"""`slipway deploy`, `scale`, `expose` and `slipway deployments list|get|delete`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from slipway_cli import clusters, images
from slipway_cli.client import Api, api
from slipway_cli.entities import Kind
from slipway_cli.output import Format, OutputOption
from slipway_cli.waiting import TimeoutOption, WaitOption, settled_in

PATH = "/api/deployments"
SERVICES = "/api/services"
COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("namespace", "namespace"),
    ("status", "status"),
    ("replicas", "replicas"),
    ("available", "available_replicas"),
    ("image", "image"),
    ("cluster", "cluster_id"),
]
ROLLED_OUT = settled_in({"running", "failed"})

DEPLOYMENTS = Kind(PATH, "deployment", COLUMNS, statuses="pending, running, updating, failed")
SERVICE_KIND = Kind(SERVICES, "service", [], statuses="pending, active or failed")
app = typer.Typer(help="Deployments: list, show, delete (roll out with `slipway deploy`).")
DeploymentArgument = Annotated[str, typer.Argument(help="id or name")]


def cluster_id(client: Api, cluster_id: str | None, cluster: str | None) -> str:
    if cluster_id:
        return cluster_id
    if cluster:
        return str(client.find(clusters.PATH, cluster, "cluster")["id"])
    running = [c for c in client.items(clusters.PATH, status="running")]
    if len(running) != 1:
        raise typer.BadParameter("give --cluster NAME or --cluster-id ID", param_hint="--cluster")
    return str(running[0]["id"])


def deploy(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="deployment name")],
    image_id: Annotated[str | None, typer.Option(help="id of a built image")] = None,
    image: Annotated[str | None, typer.Option(help="a built image's name:tag")] = None,
    cluster_id_: Annotated[str | None, typer.Option("--cluster-id", help="cluster id")] = None,
    cluster: Annotated[
        str | None, typer.Option(help="cluster name (default: the one running cluster)")
    ] = None,
    replicas: Annotated[int, typer.Option(min=1, help="pods to run")] = 1,
    port: Annotated[int, typer.Option(min=1, max=65535, help="container port")] = 8080,
    namespace: Annotated[str, typer.Option(help="Kubernetes namespace")] = "default",
    wait: WaitOption = False,
    timeout: TimeoutOption = 600,
    output: OutputOption = Format.table,
) -> None:
    """Roll out a built image onto a running cluster."""
    if bool(image_id) == bool(image):
        raise typer.BadParameter("give one of --image-id or --image", param_hint="--image")
    client = api(ctx)
    body: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "cluster_id": cluster_id(client, cluster_id_, cluster),
        "image_id": image_id or client.find(images.PATH, str(image), "image")["id"],
        "replicas": replicas,
        "container_port": port,
    }
    created = client.post(PATH, body)
    finish(ctx, created, wait, timeout, output)


def finish(
    ctx: typer.Context, deployment: dict[str, Any], wait: bool, timeout: float, output: Format
) -> None:
    DEPLOYMENTS.finish(ctx, deployment, wait, timeout, output, ROLLED_OUT, {"running"})


def scale(
    ctx: typer.Context,
    deployment: DeploymentArgument,
    replicas: Annotated[int, typer.Option(min=1, help="pods to run")],
    wait: WaitOption = False,
    timeout: TimeoutOption = 600,
    output: OutputOption = Format.table,
) -> None:
    """Change a deployment's replicas."""
    found = DEPLOYMENTS.find(ctx, deployment)
    scaled = api(ctx).post(f"{PATH}/{found['id']}/scale", {"replicas": replicas})
    finish(ctx, scaled, wait, timeout, output)


def expose(
    ctx: typer.Context,
    deployment: DeploymentArgument,
    port: Annotated[int, typer.Option(min=1, max=65535, help="service port")] = 80,
    name: Annotated[str | None, typer.Option(help="default: the deployment's name")] = None,
    type_: Annotated[str, typer.Option("--type", help="ClusterIP, NodePort, LoadBalancer")] = (
        "ClusterIP"
    ),
    protocol: Annotated[str, typer.Option(help="TCP or UDP")] = "TCP",
    wait: WaitOption = False,
    timeout: TimeoutOption = 300,
    output: OutputOption = Format.table,
) -> None:
    """Put a Kubernetes Service in front of a deployment (target port: its container port)."""
    found = DEPLOYMENTS.find(ctx, deployment)
    body = {
        "name": name or found["name"],
        "namespace": found["namespace"],
        "deployment_id": found["id"],
        "type": type_,
        "port": port,
        "target_port": found["container_port"],
        "protocol": protocol,
    }
    service = api(ctx).post(SERVICES, body)
    active = settled_in({"active", "failed"})
    SERVICE_KIND.finish(ctx, service, wait, timeout, output, active, {"active"})


DEPLOYMENTS.add_list(app, "List deployments.")
DEPLOYMENTS.add_get(app, "Show one deployment.")


@app.command()
def delete(ctx: typer.Context, deployment: DeploymentArgument) -> None:
    """Delete a deployment (and its objects on the cluster)."""
    found = DEPLOYMENTS.find(ctx, deployment)
    api(ctx).delete(f"{PATH}/{found['id']}")
    typer.echo(f"deleted deployment {found['name']} ({found['id']})")
