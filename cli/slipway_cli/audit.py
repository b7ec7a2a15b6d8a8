"""`slipway audit` (admin): the audit log, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway_cli.client import api
from slipway_cli.output import Format, OutputOption, show

PATH = "/api/audit"
COLUMNS = [
    ("time", "requestReceivedTimestamp"),
    ("user", "user.username"),
    ("verb", "verb"),
    ("resource", "objectRef.resource"),
    ("name", "objectRef.name"),
    ("code", "responseStatus.code"),
    ("uri", "requestURI"),
]


def audit(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option(help="token name or nats:<principal>")] = None,
    resource: Annotated[str | None, typer.Option(help="e.g. deployments")] = None,
    name: Annotated[str | None, typer.Option(help="object name")] = None,
    namespace: Annotated[str | None, typer.Option(help="object namespace")] = None,
    verb: Annotated[str | None, typer.Option(help="create, update, delete, …")] = None,
    outcome: Annotated[
        str | None, typer.Option(help="success, failure or an HTTP status code")
    ] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601 time")] = None,
    until: Annotated[str | None, typer.Option(help="ISO-8601 time")] = None,
    approval: Annotated[
        str | None, typer.Option(help="an approval id: its decision and its command's outcome")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="entries to show")] = 50,
    output: OutputOption = Format.table,
) -> None:
    """Show the audit log (admin role), newest first."""
    filters = {
        "actor": actor,
        "resource": resource,
        "name": name,
        "namespace": namespace,
        "verb": verb,
        "outcome": outcome,
        "since": since,
        "until": until,
        "approval_id": approval,
    }
    page = api(ctx).get(PATH, limit=limit, **filters)
    show(page["items"], output, COLUMNS)
