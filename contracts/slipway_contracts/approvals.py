"""Approvals: a change an agent asked for (an MCP tool call in `approve` mode), held until a
human with an operator token who did not ask for it says yes (`/api/approvals`).

The approval keeps the exact command that will be sent (subject and payload); on approval
the gateway sends it with the approval's id as its command id, so the events it causes
carry `causationid` = the approval's id and a repeated approval sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from slipway_contracts.common import Model
from slipway_contracts.events import CloudEvent


class ApprovalStatus(StrEnum):
    PENDING = "pending"  # waiting for a human
    APPROVED = "approved"  # approved; its command is being sent
    EXECUTED = "executed"  # its command was accepted by the owning service
    FAILED = "failed"  # its command was refused or could not be sent (`error` says why)
    REJECTED = "rejected"  # a human said no (`reason`)
    EXPIRED = "expired"  # nobody decided before `expires_at`


class ProposedCommand(Model):
    """A change as an agent asked for it: what the approval will send, once approved."""

    tool: str = Field(description="the MCP tool called, e.g. scale_deployment")
    arguments: dict[str, Any] = Field(description="the tool's arguments as the client sent them")
    subject: str = Field(description="the command's subject, slipway.<entity>.cmd.<action>")
    payload: dict[str, Any] = Field(
        description="the command's body, exactly as it will be sent; in an approval's answer, "
        "credentials in it (passwords, tokens, registry_auth) read `[redacted]`: the sendable "
        "body is kept sealed"
    )
    entity: str = Field(description="the entity kind (the subjects' name), e.g. deployment")
    entity_id: str | None = Field(None, description="the entity it changes; None for a create")
    namespace: str | None = Field(None, description="the namespace of a namespaced entity")
    summary: str = Field(description="one line for the human: scale deployment web to 3 replicas")


class Requester(Model):
    """Who asked, and through which client."""

    name: str = Field(description="the token's name")
    token_id: str | None = None
    role: str | None = None
    client: str | None = Field(None, description="the MCP client, e.g. kubectl-ai 0.0.20")


class ApprovalDecision(Model):
    """Body of `POST /api/approvals/{id}/approve` and `…/reject`."""

    reason: str | None = Field(None, max_length=1000, description="why; shown in the audit log")


class Approval(Model):
    """A proposed change and what became of it."""

    id: str
    status: ApprovalStatus
    command: ProposedCommand
    requested_by: Requester
    created_at: datetime
    expires_at: datetime
    last_updated: datetime
    decided_by: str | None = Field(None, description="the name of the token that decided")
    decided_at: datetime | None = None
    reason: str | None = None
    result: dict[str, Any] | None = Field(None, description="the entity the command answered")
    error: dict[str, Any] | None = Field(None, description="why the command failed {code, message}")
    approve_with: str | None = Field(
        None, description="how to approve a pending one: POST /api/approvals/{id}/approve"
    )
    revision: int = Field(1, ge=1, description="bumped on every change (optimistic concurrency)")


class ApprovalPage(Model):
    items: list[Approval]
    next_cursor: str | None = None


class ApprovalData(Approval):
    previous_status: str | None = None


class ApprovalChanged(CloudEvent):
    """An approval was proposed or changed status: `slipway.events.approval.<status>`
    (`io.slipway.approval.<status>.v1`, published by the gateway). Credentials in its
    command read `[redacted]`, as in the API."""

    data: ApprovalData  # type: ignore[assignment]
