"""Who may call what, enforced: the `Authorization` middleware admits a call (a valid
token of the role the call needs, `access.rules`) before any of its body is read, and
`NamespaceScope`, a dependency of every entity route, holds a scoped token to its
namespaces. The principal admitted is `request.state.principal` (`http.Caller`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from slipway_contracts.access import Role
from slipway_gateway.access.identity import (
    ALERTMANAGER,
    ANONYMOUS,
    ANONYMOUS_ADMIN,
    Principal,
    bearer_secret,
    check_shared_secret,
    principal_of,
)
from slipway_gateway.access.rules import (
    ApiPath,
    check_namespace,
    check_role,
    is_mcp,
    is_read,
    metrics_role,
    required_role,
)
from slipway_gateway.adapters.token_store import TokenStore
from slipway_gateway.entrypoints.http import Bus
from slipway_gateway.entrypoints.problems import error_problem
from slipway_gateway.settings import GatewaySettings
from slipway_libs.errors import SlipwayError

if TYPE_CHECKING:
    from slipway_gateway.entrypoints.resources import Resource

METRICS_PATH = "/metrics"
ALERT_WEBHOOK_PATH = "/api/alerts/webhook"


def principal_of_call(scope: Scope) -> Principal:
    """The principal the middleware admitted for this call (ANONYMOUS before that)."""
    principal: Principal = scope.get("state", {}).get("principal") or ANONYMOUS
    return principal


class Authorization:
    """ASGI middleware: a call to `/api` or `/mcp` (or to `/metrics`, per `metrics_access`)
    needs a valid token whose role allows it; 401 or 403 problem+json otherwise, 503 when the
    tokens cannot be looked up. Other paths are open."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            await self.admit(request)
        except SlipwayError as exc:
            await error_problem(request, exc, self.settings.retry_after_s)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def admit(self, request: Request) -> None:
        """Admit the call if it may be made (else Unauthenticated, Forbidden, or Unavailable
        when MongoDB is down); the principal it acts as is `request.state.principal`, a
        refused one included (the audit trail names it)."""
        request.state.principal = ANONYMOUS
        if request.url.path == ALERT_WEBHOOK_PATH:  # Alertmanager: the shared secret, no token
            secret_file = self.settings.alertmanager_secret_file
            check_shared_secret(request.headers.get("authorization"), secret_file)
            request.state.principal = ALERTMANAGER
            return
        needed = self.needed_role(request)
        if needed is None:
            return
        request.state.principal = principal = await self.authenticate(request)
        check_role(principal, needed)

    def needed_role(self, request: Request) -> Role | None:
        """The role this call needs; None: it is open to anyone."""
        path = request.url.path
        if path == METRICS_PATH:
            client = request.client.host if request.client else None
            return metrics_role(self.settings.metrics_access, client)
        if is_mcp(path):  # each tool then needs its own role (the MCP server checks it)
            return Role.VIEWER
        api_path = ApiPath.parse(path)
        return required_role(request.method, api_path) if api_path else None

    async def authenticate(self, request: Request) -> Principal:
        if not self.settings.auth_enabled:
            return ANONYMOUS_ADMIN
        secret = bearer_secret(request.headers.get("authorization"))
        tokens: TokenStore = request.app.state.tokens
        token = await tokens.find_by_secret(secret)
        now = datetime.now(UTC)
        principal = principal_of(token, now)
        if token is not None:
            await tokens.note_use(token, now)
        return principal


class NamespaceScope:
    """A dependency of an entity's routes: a token scoped to namespaces changes only
    namespaced entities there. A create's namespace is its body's; an existing entity's
    is read from its owning service first (and a replace may not move it out)."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource

    async def __call__(self, request: Request, bus: Bus) -> None:
        principal = principal_of_call(request.scope)
        if principal.namespaces is None or is_read(request.method):
            return
        res = self.resource
        if not res.namespaced:
            check_namespace(principal, res.tag, None)
        entity_id = request.path_params.get(res.id_param)
        if entity_id is not None:
            entity = await res.query(bus, "get", {"id": entity_id})
            self.check(request, principal, entity.get("namespace"))
        if entity_id is None or request.method in ("PUT", "PATCH"):
            self.check(request, principal, await self.namespace_in_body(request))

    def check(self, request: Request, principal: Principal, namespace: str | None) -> None:
        request.state.namespace = namespace  # for the audit entry, allowed or not
        check_namespace(principal, self.resource.tag, namespace)

    async def namespace_in_body(self, request: Request) -> str:
        """The namespace a create or replace names (the entity's default when none)."""
        default = str(self.resource.model.model_fields["namespace"].default)
        try:
            body: Any = json.loads(await request.body() or b"{}")
        except ValueError:  # not JSON: the route refuses it (400) before anything is sent
            return default
        given = body.get("namespace", default) if isinstance(body, dict) else default
        return str(given)
