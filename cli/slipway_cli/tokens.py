"""`slipway tokens` (admin): create, list, revoke API tokens."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from slipway_cli.client import api
from slipway_cli.output import Format, OutputOption, note, show

PATH = "/api/tokens"
COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("role", "role"),
    ("namespaces", "scope.namespaces"),
    ("expires", "expires_at"),
    ("last used", "last_used_at"),
]

app = typer.Typer(help="API tokens (admin role).")


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="who or what holds it, e.g. ci")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "viewer",
    namespace: Annotated[
        list[str] | None, typer.Option(help="limit an operator to this namespace (repeat)")
    ] = None,
    expires_in: Annotated[int | None, typer.Option(help="seconds until it expires")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Make a token; its secret is shown this once."""
    body: dict[str, Any] = {"name": name, "role": role}
    if namespace:
        body["scope"] = {"namespaces": namespace}
    if expires_in:
        body["expires_in_s"] = expires_in
    created = api(ctx).post(PATH, body)
    show(created, output)
    if output is Format.table:
        note("the token is shown this once: keep it now")


@app.command("list")
def list_(ctx: typer.Context, output: OutputOption = Format.table) -> None:
    """List tokens (never their secrets)."""
    show(list(api(ctx).items(PATH)), output, COLUMNS)


@app.command()
def revoke(ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="token id")]) -> None:
    """Revoke a token at once."""
    api(ctx).delete(f"{PATH}/{token_id}")
    typer.echo(f"revoked token {token_id}")
