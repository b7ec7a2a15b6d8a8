"""`slipway approvals`: the changes agents asked for, waiting for a human's yes (an operator
who did not ask approves or rejects; anyone with a token reads)."""

from __future__ import annotations

from typing import Annotated

import typer

from slipway_cli.client import api
from slipway_cli.output import Format, OutputOption, show

PATH = "/api/approvals"
COLUMNS = [
    ("id", "id"),
    ("status", "status"),
    ("change", "command.summary"),
    ("asked by", "requested_by.name"),
    ("client", "requested_by.client"),
    ("expires", "expires_at"),
    ("decided by", "decided_by"),
]
ApprovalId = Annotated[str, typer.Argument(help="approval id")]
Reason = Annotated[str | None, typer.Option(help="why; kept in the audit log")]

app = typer.Typer(help="Approvals of the changes agents asked for (MCP in approve mode).")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(help="pending, approved, executed, failed, rejected or expired"),
    ] = None,
    output: OutputOption = Format.table,
) -> None:
    """List approvals, oldest first."""
    show(list(api(ctx).items(PATH, status=status)), output, COLUMNS)


@app.command()
def get(ctx: typer.Context, approval_id: ApprovalId, output: OutputOption = Format.table) -> None:
    """Show one approval: the exact command, who asked, what became of it."""
    show(api(ctx).get(f"{PATH}/{approval_id}"), output)


def decide(
    ctx: typer.Context, approval_id: str, decision: str, reason: str | None, output: Format
) -> None:
    """Send a human's decision (`approve` or `reject`) and show the approval it left."""
    show(api(ctx).post(f"{PATH}/{approval_id}/{decision}", {"reason": reason}), output)


@app.command()
def approve(
    ctx: typer.Context,
    approval_id: ApprovalId,
    reason: Reason = None,
    output: OutputOption = Format.table,
) -> None:
    """Approve: the command is sent now (not by whoever asked for it)."""
    decide(ctx, approval_id, "approve", reason, output)


@app.command()
def reject(
    ctx: typer.Context,
    approval_id: ApprovalId,
    reason: Reason = None,
    output: OutputOption = Format.table,
) -> None:
    """Reject: the command is never sent."""
    decide(ctx, approval_id, "reject", reason, output)
