"""Who may act, and the record of what they did: API tokens and their roles, NATS
principals, and audit entries shaped like the Kubernetes audit event
(`audit.k8s.io/v1` `Event`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from slipway_contracts.common import DnsLabel, Model


class Role(StrEnum):
    """What a token may do; each role may do everything the roles before it may."""

    VIEWER = "viewer"  # reads
    OPERATOR = "operator"  # everything on entities: create, update, delete, actions, logs
    ADMIN = "admin"  # operator, plus tokens, audit and settings

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class TokenScope(Model):
    """An operator token scoped to namespaces acts only on charts, deployments, services
    and releases there (`null`: every namespace)."""

    namespaces: list[DnsLabel] | None = Field(None, min_length=1)


class CreateToken(Model):
    """Body of `POST /api/tokens`."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w.@-]*$")]
    role: Role
    scope: TokenScope = Field(default_factory=TokenScope)
    expires_in_s: int | None = Field(
        None, ge=60, le=10 * 365 * 86400, description="lifetime in seconds; null: no expiry"
    )


class Token(Model):
    """A token as listed: never its secret, which only `POST /api/tokens` shows, once."""

    id: str
    name: str
    role: Role
    scope: TokenScope
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    created_by: str | None = None


class CreatedToken(Token):
    token: str = Field(description="the bearer secret; shown this once, stored only as a hash")


class Identity(Model):
    """Who a call acts as: what `GET /api/whoami` answers (the dashboard shows or hides
    its actions by `role`)."""

    name: str = Field(description="the token's name ('anonymous' with authentication off)")
    role: Role
    scope: TokenScope = Field(default_factory=TokenScope)
    token_id: str | None = Field(None, description="null with authentication off")


# The NATS principals of the embedded stack: one NKey seed each, `.slipway/nats/<name>.nk`.
SERVICE_PRINCIPALS = ("image-builder", "chart-validator", "cluster-manager", "workload-manager")
PRINCIPALS = (*SERVICE_PRINCIPALS, "gateway", "events-reader", "integration", "admin")


class AuditUser(Model):
    """Who acted: a token (`uid` = token id, `username` = its name, `groups` =
    `["slipway:<role>"]`), or a NATS principal (`username` = `nats:<principal>`)."""

    username: str
    uid: str | None = None
    groups: list[str] = Field(default_factory=list)


class AuditObjectRef(Model):
    resource: str = Field(description="e.g. deployments, tokens, minikube_cluster")
    namespace: str | None = None
    name: str | None = Field(None, description="the entity id, when the call names one")
    subresource: str | None = Field(None, description="e.g. scale, start, kubeconfig")


class AuditResponseStatus(Model):
    code: int | None = Field(None, description="HTTP status (API calls)")
    status: Literal["Success", "Failure"]
    reason: str | None = Field(None, description="the error code, when it failed")


class AuditEvent(Model):
    """One entry of the audit log. Append-only: no API changes or deletes one; it never
    holds a secret (no bodies, no tokens)."""

    kind: Literal["Event"] = "Event"
    apiVersion: Literal["audit.slipway.io/v1"] = "audit.slipway.io/v1"
    level: Literal["Metadata"] = "Metadata"
    auditID: str
    stage: Literal["ResponseComplete"] = "ResponseComplete"
    requestURI: str = Field(description="the API path and query, or the NATS subject")
    verb: str = Field(description="create, update, delete, get, list, scale, start, …")
    user: AuditUser
    sourceIPs: list[str] = Field(default_factory=list)
    userAgent: str | None = None
    objectRef: AuditObjectRef | None = None
    responseStatus: AuditResponseStatus
    requestReceivedTimestamp: datetime
    stageTimestamp: datetime
    correlationID: str | None = Field(None, description="the X-Request-ID of the call")
    annotations: dict[str, str] = Field(
        default_factory=dict, description="`slipway.io/via`: api or nats; `slipway.io/role`"
    )


def audit_entry(**fields: Any) -> AuditEvent:
    """An audit entry from its fields (validated)."""
    return AuditEvent.model_validate(fields)


class TokenPage(Model):
    """`GET /api/tokens`: `{"items": [...], "next_cursor": ...}`."""

    items: list[Token]
    next_cursor: str | None = None


class AuditPage(Model):
    """`GET /api/audit`: `{"items": [...], "next_cursor": ...}`, newest first."""

    items: list[AuditEvent]
    next_cursor: str | None = None
