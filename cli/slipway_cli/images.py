"""`slipway images`: build, list, get, logs, delete container images."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway_cli.client import api
from slipway_cli.output import Format, OutputOption, show
from slipway_cli.waiting import TimeoutOption, WaitOption, follow, outcome, settled_in

PATH = "/api/container-images"
COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("tag", "tag"),
    ("status", "status"),
    ("size", "size"),
    ("updated", "last_updated"),
]

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
    image = api(ctx).post(PATH, body)
    if wait:
        image = follow(api(ctx), f"{PATH}/{image['id']}", settled_in({"built", "failed"}), timeout)
        outcome(image, {"built"})
    show(image, output)


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="building, built or failed")] = None,
    output: OutputOption = Format.table,
) -> None:
    """List images."""
    show(list(api(ctx).items(PATH, status=status)), output, COLUMNS)


@app.command()
def get(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="id, or name:tag")],
    output: OutputOption = Format.table,
) -> None:
    """Show one image."""
    show(api(ctx).find(PATH, image, "image"), output)


@app.command()
def logs(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="id, or name:tag")],
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing until the build ends")
    ] = False,
    timeout: TimeoutOption = 600,
) -> None:
    """Print an image's build log."""
    client = api(ctx)
    found = client.find(PATH, image, "image")
    printed = ""
    if follow_:
        # The logs endpoint answers the log so far: poll it until the image leaves `building`.
        def settled(entity: dict[str, object]) -> bool:
            nonlocal printed
            text = client.text(f"{PATH}/{found['id']}/logs")
            typer.echo(text[len(printed) :] if text.startswith(printed) else text, nl=False)
            printed = text
            return entity.get("status") != "building"

        follow(client, f"{PATH}/{found['id']}", settled, timeout)
    text = client.text(f"{PATH}/{found['id']}/logs")
    typer.echo(text[len(printed) :] if printed and text.startswith(printed) else text, nl=False)


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
