"""`GET /api/whoami` (viewer): the token's own name, role and namespace scope, so that a
client such as the dashboard shows only what that role may do."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from slipway_contracts.access import Identity, Role, TokenScope
from slipway_gateway.entrypoints.http import AUTHENTICATED, Caller, DocumentedRoute, PrefixRouter

router = PrefixRouter(
    prefix="/api/whoami", tags=["tokens"], route_class=DocumentedRoute, dependencies=[AUTHENTICATED]
)


@router.get("", response_model=Identity)
async def whoami(caller: Caller) -> JSONResponse:
    """The calling token: its name, role and namespace scope (never its secret)."""
    namespaces = list(caller.namespaces) if caller.namespaces is not None else None
    identity = Identity(
        name=caller.name,
        role=caller.role or Role.VIEWER,
        scope=TokenScope(namespaces=namespaces),
        token_id=caller.token_id,
    )
    return JSONResponse(identity.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
