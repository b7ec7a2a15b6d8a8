"""`slipway webhooks` (admin): subscriptions pushing events to HTTP receivers, and their
delivery log."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from slipway_cli.client import api
from slipway_cli.output import Format, OutputOption, note, show

PATH = "/api/webhooks"
COLUMNS = [
    ("id", "id"),
    ("url", "url"),
    ("events", "events"),
    ("status", "status"),
    ("why disabled", "disabled_reason"),
]
DELIVERY_COLUMNS = [
    ("time", "attempted_at"),
    ("event", "event_type"),
    ("seq", "sequence"),
    ("attempt", "attempt"),
    ("outcome", "outcome"),
    ("code", "status_code"),
    ("error", "error"),
]

app = typer.Typer(help="Webhook subscriptions (admin role).")
WebhookId = Annotated[str, typer.Argument(help="webhook id")]


@app.command()
def create(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="the receiver, e.g. http://127.0.0.1:9000/hook")],
    event: Annotated[
        list[str] | None,
        typer.Option(help="an event type or glob it receives (repeat; default every event)"),
    ] = None,
    description: Annotated[str | None, typer.Option(help="what it is for")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Subscribe a receiver; its signing secret is shown this once."""
    body: dict[str, Any] = {"url": url, "events": event or ["*"]}
    if description:
        body["description"] = description
    show(api(ctx).post(PATH, body), output)
    if output is Format.table:
        note("the signing secret is shown this once: keep it now")


@app.command("list")
def list_(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """List subscriptions (never their secrets)."""
    show(list(api(ctx).items(PATH)), output, COLUMNS)


@app.command()
def get(ctx: typer.Context, webhook_id: WebhookId, output: OutputOption = Format.table) -> None:
    """Show one subscription."""
    show(api(ctx).get(f"{PATH}/{webhook_id}"), output)


@app.command()
def deliveries(
    ctx: typer.Context,
    webhook_id: WebhookId,
    limit: Annotated[int, typer.Option(min=1, max=500, help="attempts to show")] = 50,
    output: OutputOption = Format.table,
) -> None:
    """The delivery log, newest first: one line per attempt."""
    page = api(ctx).get(f"{PATH}/{webhook_id}/deliveries", limit=limit)
    show(page["items"], output, DELIVERY_COLUMNS)


@app.command()
def enable(ctx: typer.Context, webhook_id: WebhookId, output: OutputOption = Format.table) -> None:
    """Make a disabled subscription active again; it receives the events from now on."""
    show(api(ctx).post(f"{PATH}/{webhook_id}/enable"), output)


@app.command()
def delete(ctx: typer.Context, webhook_id: WebhookId) -> None:
    """Remove a subscription; what it had still to receive is not sent."""
    api(ctx).delete(f"{PATH}/{webhook_id}")
    typer.echo(f"deleted webhook {webhook_id}")
