"""`/api/approvals`: the changes agents asked for, waiting for a human's yes. Viewers read
them; an operator who did not ask approves (the command is sent then) or rejects."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from slipway_contracts.approvals import Approval, ApprovalDecision, ApprovalPage, ApprovalStatus
from slipway_gateway.approval_desk import ApprovalDesk
from slipway_gateway.entrypoints.http import (
    AUTHENTICATED,
    Caller,
    DocumentedRoute,
    PrefixRouter,
    problems,
)

router = PrefixRouter(
    prefix="/api/approvals",
    tags=["approvals"],
    route_class=DocumentedRoute,
    dependencies=[AUTHENTICATED],
)


async def approval_desk(request: Request) -> ApprovalDesk:
    return request.app.state.approvals  # type: ignore[no-any-return]


Desk = Annotated[ApprovalDesk, Depends(approval_desk)]
# The body is optional: `{"reason": ...}` or nothing.
Decision = Annotated[ApprovalDecision | None, Body()]


def answer(request: Request, approval: Approval) -> JSONResponse:
    request.state.namespace = approval.command.namespace  # for the audit entry
    return JSONResponse(approval.model_dump(mode="json"))


@router.get("", response_model=ApprovalPage)
async def list_approvals(
    desk: Desk,
    status: ApprovalStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    """Approvals oldest first (`status=pending`: those waiting for a decision); pass
    `next_cursor` back as `cursor` for the next page. Credentials in a command read
    `[redacted]`."""
    items, next_cursor = await desk.list(status, cursor, limit)
    return JSONResponse(ApprovalPage(items=items, next_cursor=next_cursor).model_dump(mode="json"))


@router.get("/{approval_id}", response_model=Approval)
async def get_approval(approval_id: str, desk: Desk, request: Request) -> JSONResponse:
    return answer(request, await desk.get(approval_id))


@router.post("/{approval_id}/approve", response_model=Approval, responses=problems(409))
async def approve(
    approval_id: str, desk: Desk, caller: Caller, request: Request, body: Decision = None
) -> JSONResponse:
    """Approve a pending approval, then send its command with the approval's id as its
    command id (the events it causes carry it as `causationid`). The answer is the approval
    once the owning service answered: `executed` (with `result`) or `failed` (with
    `error`); `approved` while the bus is down (it is sent when it is back). Whoever asked
    cannot approve (403); a token scoped to namespaces approves only changes there (403);
    an approval that is not pending is a 409 naming its status."""
    return answer(request, await desk.approve(approval_id, caller, body or ApprovalDecision()))


@router.post("/{approval_id}/reject", response_model=Approval, responses=problems(409))
async def reject(
    approval_id: str, desk: Desk, caller: Caller, request: Request, body: Decision = None
) -> JSONResponse:
    """Reject a pending approval: its command is never sent. Whoever asked may reject
    (withdraw) their own request."""
    return answer(request, await desk.reject(approval_id, caller, body or ApprovalDecision()))
