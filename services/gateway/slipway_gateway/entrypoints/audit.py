"""`GET /api/audit` (admin): the audit log, newest first, filtered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse

from slipway_contracts.access import AuditPage
from slipway_gateway.adapters.audit_store import AuditFilter, AuditStore
from slipway_gateway.entrypoints.http import AUTHENTICATED, DocumentedRoute, PrefixRouter

router = PrefixRouter(
    prefix="/api/audit", tags=["audit"], route_class=DocumentedRoute, dependencies=[AUTHENTICATED]
)

OUTCOME = r"^((?i:success|failure)|[1-5][0-9][0-9])$"


async def audit_log(request: Request) -> AuditStore:
    return request.app.state.audit_log  # type: ignore[no-any-return]


def utc(moment: datetime | None) -> datetime | None:
    """A moment given without an offset is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get("", response_model=AuditPage)
async def list_audit_entries(
    store: Annotated[AuditStore, Depends(audit_log)],
    actor: Annotated[str | None, Query(description="a token's name or id")] = None,
    resource: Annotated[str | None, Query(description="e.g. deployments, tokens")] = None,
    name: Annotated[str | None, Query(description="the entity id")] = None,
    namespace: str | None = None,
    verb: Annotated[str | None, Query(description="create, update, delete, scale, ...")] = None,
    outcome: Annotated[
        str | None,
        Query(pattern=OUTCOME, description="`success`, `failure`, or an HTTP status code"),
    ] = None,
    since: Annotated[datetime | None, Query(description="ISO-8601; UTC when no offset")] = None,
    until: Annotated[datetime | None, Query(description="ISO-8601; UTC when no offset")] = None,
    approval_id: Annotated[
        str | None,
        Query(description="entries about this approval: its decision, its command's outcome"),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    """Audit entries newest first: every change made over the API (whatever its outcome),
    every refused call, and the commands the services received over NATS. Pass
    `next_cursor` back as `cursor` (with the same filters) for the next page."""
    where = AuditFilter(
        actor=actor,
        resource=resource,
        name=name,
        namespace=namespace,
        verb=verb,
        outcome=int(outcome) if outcome and outcome.isdigit() else outcome,
        since=utc(since),
        until=utc(until),
        approval_id=approval_id,
    )
    items, next_cursor = await store.page(where, cursor, limit)
    return JSONResponse(AuditPage(items=items, next_cursor=next_cursor).model_dump(mode="json"))
