"""`slipway events`: Slipway's events (`GET /api/events`, server-sent events)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
import yaml

from slipway_cli.client import api
from slipway_cli.output import Format, OutputOption

PATH = "/api/events"
# What `slipway events` shows without --since (and without --follow): the last hour.
DEFAULT_WINDOW = timedelta(hours=1)
ROW = "{sequence:<8} {time:<27} {type:<42} {subject:<36} {status}"


def row(sequence: int, event: dict[str, Any]) -> str:
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    return ROW.format(
        sequence=sequence,
        time=str(event.get("time", ""))[:26],
        type=event.get("type", ""),
        subject=event.get("subject", ""),
        status=(data or {}).get("status", ""),
    )


def render(sequence: int, event: dict[str, Any], output: Format) -> str:
    """One event: a table row, one line of JSON (the CloudEvent and its `sequence`, the
    stream's; give it to --since to resume), or a YAML document."""
    if output is Format.json:
        return json.dumps({"sequence": sequence, **event})
    if output is Format.yaml:
        return "---\n" + yaml.safe_dump({"sequence": sequence, **event}, sort_keys=False).rstrip()
    return row(sequence, event)


def events(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="keep printing new events (Ctrl-C stops)")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="after this event's sequence, or from this RFC 3339 time "
            "(default: the last hour; with --follow, new events only)"
        ),
    ] = None,
    type_: Annotated[
        str | None,
        typer.Option("--type", help="a CloudEvents type or a glob: io.slipway.deployment.*"),
    ] = None,
    kind: Annotated[str | None, typer.Option(help="entity kind, e.g. deployment")] = None,
    entity: Annotated[str | None, typer.Option(help="an entity id")] = None,
    correlation_id: Annotated[str | None, typer.Option(help="one causal chain")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Print Slipway's events, oldest first; --follow keeps streaming (it survives a broken
    connection, resuming after the last event it printed)."""
    if since is None and not follow:
        since = (datetime.now(UTC) - DEFAULT_WINDOW).isoformat()
    params = {
        "since": since,
        "type": type_,
        "kind": kind,
        "entity_id": entity,
        "correlation_id": correlation_id,
        "follow": "true" if follow else "false",
    }
    if output is Format.table:
        typer.echo(
            ROW.format(sequence="SEQ", time="TIME", type="TYPE", subject="SUBJECT", status="STATUS")
        )
    for event in api(ctx).events(PATH, params, ends=not follow):
        typer.echo(render(int(event.id or 0), json.loads(event.data), output))
