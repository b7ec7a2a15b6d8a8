"""What the audit log records of an API call: one entry shaped like the Kubernetes audit
event, never a body or a secret."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from slipway_contracts.access import (
    AuditEvent,
    AuditObjectRef,
    AuditResponseStatus,
    AuditUser,
)
from slipway_contracts.approvals import Approval, ApprovalStatus
from slipway_gateway.access.identity import Principal
from slipway_gateway.access.rules import ApiPath, is_read

# The verb of a change to a resource or one of its items; an action is named by its path
# (`POST /api/deployments/{id}/scale` → `scale`).
CHANGE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
REFUSED = frozenset({401, 403})


def is_audited(method: str, path: ApiPath | None, status: int | None = None) -> bool:
    """Every change under `/api`, whatever its outcome, and every refused call."""
    return (path is not None and not is_read(method)) or status in REFUSED


def verb(method: str, path: ApiPath | None) -> str:
    """create, update, delete, list, get, or the action (scale, start, rollback, ...)."""
    method = method.upper()
    if path is None or path.resource is None:
        return method.lower()
    if is_read(method):
        return "list" if path.is_collection else "get"
    if path.subresource and method == "POST":
        return path.subresource
    return CHANGE_VERBS.get(method, method.lower())


@dataclass(frozen=True)
class ApiCall:
    """What the gateway knows of a call once it is answered."""

    method: str
    uri: str  # path and query
    path: ApiPath | None
    principal: Principal
    received_at: datetime
    source_ip: str | None = None
    user_agent: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: int
    reason: str | None = None  # the problem's code, when it failed
    namespace: str | None = None
    created_id: str | None = None  # the id a create answered


def api_entry(audit_id: str, call: ApiCall, outcome: Outcome, finished_at: datetime) -> AuditEvent:
    """The audit entry of an answered API call."""
    principal = call.principal
    annotations = {"slipway.io/via": "api", **approval_annotations(call.path)}
    if principal.role is not None:
        annotations["slipway.io/role"] = str(principal.role)
    return AuditEvent(
        auditID=audit_id,
        requestURI=call.uri,
        verb=verb(call.method, call.path),
        user=AuditUser(username=principal.name, uid=principal.token_id, groups=principal.groups),
        sourceIPs=[call.source_ip] if call.source_ip else [],
        userAgent=call.user_agent,
        objectRef=object_ref(call.path, outcome),
        responseStatus=AuditResponseStatus(
            code=outcome.status,
            status="Success" if outcome.status < 400 else "Failure",
            reason=outcome.reason if outcome.status >= 400 else None,
        ),
        requestReceivedTimestamp=call.received_at,
        stageTimestamp=finished_at,
        correlationID=call.correlation_id,
        annotations=annotations,
    )


def object_ref(path: ApiPath | None, outcome: Outcome) -> AuditObjectRef | None:
    if path is None or path.resource is None:
        return None
    return AuditObjectRef(
        resource=path.resource,
        namespace=outcome.namespace,
        name=path.name or outcome.created_id,
        subresource=path.subresource,
    )


APPROVAL_ID = "slipway.io/approval-id"
# Who expired an approval nobody decided in time.
APPROVAL_EXPIRY = "system:approval-expiry"


def approval_annotations(path: ApiPath | None) -> dict[str, str]:
    """`slipway.io/approval-id` on an approve or reject call (`/api/approvals/{id}/…`)."""
    if path is not None and path.resource == "approvals" and path.name:
        return {APPROVAL_ID: path.name}
    return {}


def execution_entry(approval: Approval, finished_at: datetime) -> AuditEvent:
    """The entry of an approved command's outcome (`executed` or `failed`): made by who
    asked, approved by who decided, about the entity it changed."""
    command, asked = approval.command, approval.requested_by
    _, _, _, action = command.subject.split(".", 3)
    failed = approval.status is not ApprovalStatus.EXECUTED
    error_code = (approval.error or {}).get("code") if failed else None
    created = (approval.result or {}).get("id")
    return AuditEvent(
        auditID=str(uuid.uuid5(uuid.NAMESPACE_URL, f"slipway:approval:{approval.id}:outcome")),
        requestURI=command.subject,
        verb=action,
        user=AuditUser(
            username=asked.name,
            uid=asked.token_id,
            groups=[f"slipway:{asked.role}"] if asked.role else [],
        ),
        userAgent=asked.client,
        objectRef=AuditObjectRef(
            resource=command.entity,
            namespace=command.namespace,
            name=command.entity_id or (created if isinstance(created, str) else None),
        ),
        responseStatus=AuditResponseStatus(
            status="Failure" if failed else "Success",
            reason=str(error_code) if error_code else None,
        ),
        requestReceivedTimestamp=approval.decided_at or finished_at,
        stageTimestamp=finished_at,
        correlationID=approval.id,
        annotations={
            "slipway.io/via": "approval",
            APPROVAL_ID: approval.id,
            "slipway.io/approved-by": approval.decided_by or "",
        },
    )


def expiry_entry(approval: Approval) -> AuditEvent:
    """The entry of an approval that expired undecided."""
    return AuditEvent(
        auditID=str(uuid.uuid5(uuid.NAMESPACE_URL, f"slipway:approval:{approval.id}:expired")),
        requestURI=f"/api/approvals/{approval.id}",
        verb="expire",
        user=AuditUser(username=APPROVAL_EXPIRY),
        objectRef=AuditObjectRef(
            resource="approvals", namespace=approval.command.namespace, name=approval.id
        ),
        responseStatus=AuditResponseStatus(status="Success"),
        requestReceivedTimestamp=approval.expires_at,
        stageTimestamp=approval.last_updated,
        correlationID=approval.id,
        annotations={"slipway.io/via": "approval", APPROVAL_ID: approval.id},
    )


@dataclass(frozen=True)
class ToolCall:
    """An MCP tool call, as the audit log records it (never its arguments)."""

    tool: str
    resource: str | None  # the API's resource segment, e.g. deployments
    subresource: str | None  # the action, e.g. scale
    principal: Principal
    received_at: datetime
    client: str | None = None  # the MCP client's "name version"
    source_ip: str | None = None
    user_agent: str | None = None


def tool_entry(
    audit_id: str,
    call: ToolCall,
    *,
    status: int,
    reason: str | None,
    entity_id: str | None,
    namespace: str | None,
    approval_id: str | None,
    finished_at: datetime,
) -> AuditEvent:
    """The audit entry of an MCP tool call: the verb is the tool, `slipway.io/via` is `mcp`;
    a call that made an approval names it (`slipway.io/approval-id`)."""
    principal = call.principal
    annotations = {"slipway.io/via": "mcp"}
    if principal.role is not None:
        annotations["slipway.io/role"] = str(principal.role)
    if call.client:
        annotations["slipway.io/mcp-client"] = call.client
    if approval_id:
        annotations["slipway.io/approval-id"] = approval_id
    object_ref = None
    if call.resource is not None:
        object_ref = AuditObjectRef(
            resource=call.resource,
            namespace=namespace,
            name=entity_id,
            subresource=call.subresource,
        )
    return AuditEvent(
        auditID=audit_id,
        requestURI=f"/mcp tools/call {call.tool}",
        verb=call.tool,
        user=AuditUser(username=principal.name, uid=principal.token_id, groups=principal.groups),
        sourceIPs=[call.source_ip] if call.source_ip else [],
        userAgent=call.user_agent,
        objectRef=object_ref,
        responseStatus=AuditResponseStatus(
            code=status,
            status="Success" if status < 400 else "Failure",
            reason=reason if status >= 400 else None,
        ),
        requestReceivedTimestamp=call.received_at,
        stageTimestamp=finished_at,
        annotations=annotations,
    )
