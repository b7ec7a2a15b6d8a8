"""The shape the entity command groups share, written once: `list`, `get`, and a change
that `--wait` follows to its end.

    IMAGES = Kind("/api/container-images", "image", COLUMNS, statuses="building, built or failed")
    IMAGES.add_list(app, "List images.")
    IMAGES.add_get(app, "Show one image.", ref_help="id, or name:tag")
    IMAGES.finish(ctx, image, wait, timeout, output, settled_in({"built", "failed"}), {"built"})
"""

# No `from __future__ import annotations`: typer reads the generated commands' parameter
# types (which use this kind's help texts) from live annotations.

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from slipway_cli.client import api
from slipway_cli.output import Columns, Format, OutputOption, show
from slipway_cli.waiting import Settled, follow, outcome


@dataclass(frozen=True)
class Kind:
    """An entity kind of the API, as the CLI shows it."""

    path: str  # e.g. /api/container-images
    label: str  # e.g. image (in messages)
    columns: Columns  # its `list` table
    statuses: str  # the `--status` filter's help, e.g. "building, built or failed"

    def find(self, ctx: typer.Context, ref: str) -> dict[str, Any]:
        """One entity by id or name (see `Api.find`)."""
        return api(ctx).find(self.path, ref, self.label)

    def finish(
        self,
        ctx: typer.Context,
        entity: dict[str, Any],
        wait: bool,
        timeout: float,
        output: Format,
        settled: Settled,
        good: Collection[str],
    ) -> None:
        """Show the entity a change answered; with `wait`, once it settles (exit 1 unless
        it settles in `good`)."""
        if wait:
            entity = follow(api(ctx), f"{self.path}/{entity['id']}", settled, timeout)
            outcome(entity, good)
        show(entity, output)

    def add_list(self, app: typer.Typer, doc: str) -> None:
        """`<group> list [--status S] [-o …]`."""

        def list_(
            ctx: typer.Context,
            status: Annotated[str | None, typer.Option(help=self.statuses)] = None,
            output: OutputOption = Format.table,
        ) -> None:
            show(list(api(ctx).items(self.path, status=status)), output, self.columns)

        list_.__doc__ = doc
        app.command("list")(list_)

    def add_get(self, app: typer.Typer, doc: str, ref_help: str = "id or name") -> None:
        """`<group> get REF [-o …]`."""

        def get(
            ctx: typer.Context,
            ref: Annotated[str, typer.Argument(metavar=self.label.upper(), help=ref_help)],
            output: OutputOption = Format.table,
        ) -> None:
            show(self.find(ctx, ref), output)

        get.__doc__ = doc
        app.command("get")(get)
