"""What every entity route shares: the bus, ETags, If-Match, Idempotency-Key, responses."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from slipway_gateway.adapters.bus import CommandBus
from slipway_libs.errors import PreconditionFailed

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such entity", "content": {"application/problem+json": {}}},
    409: {
        "description": "Illegal in the current status",
        "content": {"application/problem+json": {}},
    },
    412: {
        "description": "If-Match is not the current revision",
        "content": {"application/problem+json": {}},
    },
    422: {"description": "Invalid input, per field", "content": {"application/problem+json": {}}},
    503: {
        "description": "NATS, MongoDB or the service is down; see Retry-After",
        "content": {"application/problem+json": {}},
    },
}


def bus(request: Request) -> CommandBus:
    return request.app.state.bus  # type: ignore[no-any-return]


Bus = Annotated[CommandBus, Depends(bus)]


def if_match(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The revision named by If-Match (`"3"`, `W/"3"`, `*` = any)."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag this API issued")
    return int(raw)


def command_id(
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> str:
    """The command id: the client's Idempotency-Key, or a fresh one."""
    return f"idem:{idempotency_key}" if idempotency_key else str(uuid.uuid4())


IfMatch = Annotated[int | None, Depends(if_match)]
CommandId = Annotated[str, Depends(command_id)]


def entity_response(
    entity: dict[str, Any], status: int = 200, location: str | None = None
) -> JSONResponse:
    """An entity with its ETag (and Location for accepted or created ones)."""
    headers = {"ETag": f'"{entity["revision"]}"'}
    if location:
        headers["Location"] = location
    return JSONResponse(entity, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)
