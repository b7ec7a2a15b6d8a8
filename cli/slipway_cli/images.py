"""`slipway images`: build, list, get, logs, delete container images."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from slipway_cli.client import Failed, api
from slipway_cli.entities import Kind
from slipway_cli.output import Format, OutputOption
from slipway_cli.waiting import TimeoutOption, WaitOption, settled_in

PATH = "/api/container-images"
COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("tag", "tag"),
    ("status", "status"),
    ("size", "size"),
    ("updated", "last_updated"),
]

IMAGES = Kind(PATH, "image", COLUMNS, statuses="building, built or failed")
BUILT = settled_in({"built", "failed"})
app = typer.Typer(help="Container images: build them from a directory in the build roots.")


@app.command()
def build(
    ctx: typer.Context,
    context: Annotated[str, typer.Argument(help="build context, a directory in the build roots")],
    name: Annotated[str, typer.Option(help="image name, e.g. todo/backend")],
    tag: Annotated[str, typer.Option(help="semantic version or latest")] = "latest",
    application: Annotated[str, typer.Option(help="frontend or backend")] = "backend",
    dockerfile: Annotated[str, typer.Option(help="Dockerfile inside the context")] = "Dockerfile",
    repository: Annotated[str | None, typer.Option(help="registry repository to push to")] = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 600,
    output: OutputOption = Format.table,
) -> None:
    """Build an image (202: it builds in the background; --wait follows it)."""
    body = {
        "name": name,
        "tag": tag,
        "application": application,
        "build": {"context": context, "dockerfile": dockerfile},
        **({"repository": repository} if repository else {}),
    }
    IMAGES.finish(ctx, api(ctx).post(PATH, body), wait, timeout, output, BUILT, {"built"})


IMAGES.add_list(app, "List images.")
IMAGES.add_get(app, "Show one image.", ref_help="id, or name:tag")


@app.command()
def logs(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="id, or name:tag")],
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing until the build ends")
    ] = False,
) -> None:
    """Print an image's build log (--follow: live, until the build ends; exit 1 if it failed)."""
    client = api(ctx)
    path = f"{PATH}/{IMAGES.find(ctx, image)['id']}/logs"
    if not follow_:
        typer.echo(client.text(path), nl=False)
        return
    for event in client.events(path, {"follow": "true"}):
        if event.event == "end":
            end = json.loads(event.data)
            if end.get("status") != "built":
                raise Failed(f"build {end.get('status')}: {end.get('reason') or 'no reason given'}")
            return
        typer.echo(event.data)


@app.command()
def delete(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="id, or name:tag")],
    remove_image: Annotated[bool, typer.Option(help="also remove it from the engine")] = False,
) -> None:
    """Delete an image."""
    found = api(ctx).find(PATH, image, "image")
    api(ctx).delete(f"{PATH}/{found['id']}", remove_image=remove_image or None)
    typer.echo(f"deleted image {found['name']}:{found['tag']} ({found['id']})")
