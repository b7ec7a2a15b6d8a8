"""A tool call, checked and carried out: the mode, the caller's role and namespaces, the
arguments against the contract's model; then the query or command over the bus (`auto`), or
a proposal held for a human's yes (`approve`). Every call leaves one audit entry.

Nothing the client sends decides what it may do: the role is its token's, the mode the
gateway's setting, both read again on every call.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from slipway_contracts.approvals import Approval, ProposedCommand
from slipway_gateway.access.audit_entries import ToolCall, tool_entry
from slipway_gateway.access.identity import Principal
from slipway_gateway.access.rules import Forbidden, check_namespace, check_role, mcp_role
from slipway_gateway.adapters.audit_store import AuditStore
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.entrypoints.advice import Explainer
from slipway_gateway.mcp.tools import Tool
from slipway_gateway.settings import McpMode
from slipway_libs.errors import SlipwayError, Unavailable

log = logging.getLogger(__name__)
APPROVE_WITH = "POST /api/approvals/{id}/approve"


class Approvals(Protocol):
    """Where a change waits for a human's yes (`app.state.approvals`)."""

    async def propose(
        self, proposal: ProposedCommand, principal: Principal, client: str | None
    ) -> Approval: ...


class ToolRefused(SlipwayError):
    """A call the server will not carry out: unknown tool, read-only mode, bad arguments."""

    code = "refused"
    http_status = 403


class UnknownTool(ToolRefused):
    code = "not_found"
    http_status = 404


class InvalidArguments(ToolRefused):
    code = "invalid"
    http_status = 422


@dataclass(frozen=True)
class Caller:
    """Who calls, and through which MCP client (`clientInfo` "name version")."""

    principal: Principal
    client: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None


@dataclass
class Outcome:
    """What a call came to: its answer, or the error it was refused with."""

    data: Any = None
    error: SlipwayError | None = None
    entity_id: str | None = None
    namespace: str | None = None
    approval_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def visible(tool: Tool, principal: Principal, mode: McpMode) -> bool:
    """Whether a session of this principal lists the tool (a viewer sees reads only; no
    change tool in read-only mode)."""
    if not tool.read_only and mode == "read-only":
        return False
    needed = mcp_role(tool.read_only, tool.api_path(None))
    return principal.role is not None and principal.role.allows(needed)


def invalid_arguments(tool: Tool, exc: ValidationError) -> InvalidArguments:
    """The validation errors as one message naming each field and the rule it breaks."""
    details = [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "arguments",
            "message": error["msg"],
        }
        for error in exc.errors()
    ]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return InvalidArguments(f"invalid arguments for {tool.name}: {message}", details)


def secret_fields(model: type[BaseModel]) -> set[str]:
    """The fields a model never shows (`repr=False`: credentials, kubeconfigs)."""
    return {name for name, info in model.model_fields.items() if not info.repr}


def summary(tool: Tool, payload: dict[str, Any], entity: dict[str, Any] | None) -> str:
    """One line for the human who decides: `scale deployment web (replicas=3)`."""
    name = (entity or {}).get("name") or payload.get("name") or payload.get("id")
    shown = {
        key: value
        for key, value in payload.items()
        if key not in ("id", "expected_revision", "name")
        and key not in secret_fields(tool.arguments)
        and isinstance(value, str | int | float | bool)
    }
    given = ", ".join(f"{key}={value}" for key, value in list(shown.items())[:4])
    verb = tool.name.replace("_", " ")
    return f"{verb} '{name}'" + (f" ({given})" if given else "")


def proposal(
    tool: Tool,
    payload: dict[str, Any],
    entity_id: str | None,
    namespace: str | None,
    entity: dict[str, Any] | None,
) -> ProposedCommand:
    """The change as it would be sent, for an approval to hold (its secrets only in the
    payload, which the approval keeps to send)."""
    hidden = secret_fields(tool.arguments)
    return ProposedCommand(
        tool=tool.name,
        arguments={k: v for k, v in payload.items() if k not in hidden and v is not None},
        subject=tool.subject,
        payload=payload,
        entity=tool.resource.entity,
        entity_id=entity_id,
        namespace=namespace,
        summary=summary(tool, payload, entity),
    )


class ToolCalls:
    """Carries out tool calls against the bus, the approval desk and the audit log."""

    def __init__(
        self,
        tools: dict[str, Tool],
        bus: CommandBus,
        audit_log: AuditStore,
        mode: McpMode,
        approvals: Approvals | None,
        explainer: Explainer,
    ) -> None:
        self.tools = tools
        self.bus = bus
        self.audit_log = audit_log
        self.mode = mode
        self.approvals = approvals
        self.explainer = explainer  # the language model that explains an advisor's answer

    def listed(self, principal: Principal) -> list[Tool]:
        return [tool for tool in self.tools.values() if visible(tool, principal, self.mode)]

    async def call(self, name: str, arguments: dict[str, Any] | None, caller: Caller) -> Outcome:
        """Carry out one call; the outcome holds the answer or the refusal. Audited."""
        received_at = datetime.now(UTC)
        outcome = Outcome()
        tool = self.tools.get(name)
        try:
            if tool is None:
                raise UnknownTool(f"no tool named '{name}'")
            await self._carry_out(tool, arguments, caller, outcome)
        except SlipwayError as exc:
            outcome.error = exc
        except Exception:  # audited all the same; the client learns no more than REST says
            log.exception("tool call failed", extra={"tool": name})
            outcome.error = SlipwayError("the call failed inside the gateway")
        await self._audit(name, tool, caller, outcome, received_at)
        return outcome

    async def _carry_out(
        self, tool: Tool, arguments: dict[str, Any] | None, caller: Caller, outcome: Outcome
    ) -> None:
        try:
            given = tool.arguments.model_validate(arguments or {})
        except ValidationError as exc:
            raise invalid_arguments(tool, exc) from None
        payload = given.model_dump(mode="json")
        outcome.entity_id = payload.get("id") if tool.names_entity else None
        if not tool.read_only and self.mode == "read-only":
            raise ToolRefused(
                f"{tool.name} changes Slipway and this MCP server is read-only "
                "(SLIPWAY_MCP_MODE=read-only): nothing was sent"
            )
        check_role(caller.principal, mcp_role(tool.read_only, tool.api_path(outcome.entity_id)))
        if tool.advisor is not None:
            outcome.data = await tool.advisor.advise(self.bus, self.explainer, payload)
            return
        if tool.read_only:
            outcome.data = await self.bus.request(tool.subject, payload)
            return
        entity = await self._entity(tool, outcome.entity_id)
        outcome.namespace = self._check_scope(tool, caller.principal, entity, payload)
        if self.mode == "auto":
            await self.audit_log.ping()  # a change the audit log cannot record is not made
            outcome.data = await self._send(tool, payload, str(uuid.uuid4()))
            outcome.entity_id = outcome.entity_id or _id_of(outcome.data)
            return
        if self.approvals is None:
            raise Unavailable("approvals are not available on this gateway: nothing was sent")
        proposed = proposal(tool, payload, outcome.entity_id, outcome.namespace, entity)
        approval = await self.approvals.propose(proposed, caller.principal, caller.client)
        outcome.approval_id = approval.id
        outcome.data = {
            "approval": approval.model_dump(mode="json"),
            "message": (
                f"Nothing was changed yet: approval {approval.id} ({approval.status}) waits "
                f"for another operator: {approval.approve_with or APPROVE_WITH.format(id=approval.id)}"
                f" (until {approval.expires_at.isoformat()})."
            ),
        }

    async def _send(self, tool: Tool, payload: dict[str, Any], command_id: str) -> Any:
        """The command as its REST route sends it (a chart's size checked first)."""
        if tool.send is not None:
            return await tool.send(self.bus, tool.action, payload, command_id)
        return await self.bus.request(tool.subject, payload, command_id)

    async def _entity(self, tool: Tool, entity_id: str | None) -> dict[str, Any] | None:
        """The entity a change names, as its owning service has it (a 404 if none)."""
        if entity_id is None:
            return None
        entity: dict[str, Any] = await tool.resource.query(self.bus, "get", {"id": entity_id})
        return entity

    def _check_scope(
        self,
        tool: Tool,
        principal: Principal,
        entity: dict[str, Any] | None,
        payload: dict[str, Any],
    ) -> str | None:
        """The namespace the change is in; Forbidden for a scoped token outside its own (the
        entity's namespace, and the one a create or replace names)."""
        res = tool.resource
        if not res.namespaced:
            check_namespace(principal, res.tag, None)
            return None
        namespaces = [n for n in ((entity or {}).get("namespace"), payload.get("namespace")) if n]
        for namespace in namespaces:
            check_namespace(principal, res.tag, namespace)
        return namespaces[0] if namespaces else None

    async def _audit(
        self,
        name: str,
        tool: Tool | None,
        caller: Caller,
        outcome: Outcome,
        received_at: datetime,
    ) -> None:
        error = outcome.error
        call = ToolCall(
            tool=name,
            resource=tool.api_path(None).resource if tool else None,
            subresource=tool.api_path(None).subresource if tool else None,
            principal=caller.principal,
            received_at=received_at,
            client=caller.client,
            source_ip=caller.source_ip,
            user_agent=caller.user_agent,
        )
        entry = tool_entry(
            str(uuid.uuid4()),
            call,
            status=error.http_status if error else (202 if outcome.approval_id else 200),
            reason=error.code if error else None,
            entity_id=outcome.entity_id,
            namespace=outcome.namespace,
            approval_id=outcome.approval_id,
            finished_at=datetime.now(UTC),
        )
        try:
            await self.audit_log.record(entry)
        except Unavailable:
            log.error("audit entry not stored", extra={"audit": entry.model_dump(mode="json")})


def _id_of(data: Any) -> str | None:
    return data.get("id") if isinstance(data, dict) else None


__all__ = ["Approvals", "Caller", "Forbidden", "Outcome", "ToolCalls", "visible"]
