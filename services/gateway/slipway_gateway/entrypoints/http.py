"""What every API route shares: the caller, the bus, ETags, If-Match, Idempotency-Key,
responses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute, APIRouter
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope

from slipway_gateway.access.identity import ANONYMOUS, Principal
from slipway_gateway.adapters.bus import CommandBus
from slipway_libs.errors import PreconditionFailed

PROBLEM_RESPONSES: dict[int, dict[str, Any]] = {
    400: {
        "description": "The body is not JSON (or not a well-formed form)",
        "content": {"application/problem+json": {}},
    },
    401: {
        "description": "No valid API token (missing, unknown, expired or revoked); see "
        "`WWW-Authenticate`",
        "content": {"application/problem+json": {}},
    },
    403: {
        "description": "The token's role (`required_role` names the one needed) or its "
        "namespace scope does not allow this call",
        "content": {"application/problem+json": {}},
    },
    404: {"description": "No such entity", "content": {"application/problem+json": {}}},
    409: {
        "description": "Illegal in the current status",
        "content": {"application/problem+json": {}},
    },
    410: {
        "description": "The cursor is older than the events kept (the stream's retention)",
        "content": {"application/problem+json": {}},
    },
    412: {
        "description": "If-Match is not the current revision",
        "content": {"application/problem+json": {}},
    },
    413: {
        "description": "The body is over the gateway's limit (`SLIPWAY_MAX_BODY_BYTES`)",
        "content": {"application/problem+json": {}},
    },
    422: {"description": "Invalid input, per field", "content": {"application/problem+json": {}}},
    503: {
        "description": "NATS, MongoDB or the service is down; see Retry-After",
        "content": {"application/problem+json": {}},
    },
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented responses of these problem statuses, for a route's `responses`."""
    return {status: PROBLEM_RESPONSES[status] for status in statuses}


BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="slw_<secret>",
    description="An API token: `Authorization: Bearer <token>`. Roles: viewer (reads), "
    "operator (every change to entities, kubeconfigs and logs), admin (also tokens and the "
    "audit log). The embedded stack's admin token is in `.slipway/admin.token`.",
    auto_error=False,
)


# The dependencies here are `async def` though they do not wait: FastAPI runs a plain `def`
# dependency on a worker thread, a thread hop on every call.
async def caller(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> Principal:
    """Who is calling: the principal the authorization middleware admitted (it has
    already refused a call without a valid token; the bearer scheme here documents it)."""
    principal: Principal = getattr(request.state, "principal", None) or ANONYMOUS
    return principal


Caller = Annotated[Principal, Security(caller)]
# The dependency of every `/api` router: the token the call needs, in the API document.
AUTHENTICATED = Security(caller)


async def bus(request: Request) -> CommandBus:
    return request.app.state.bus  # type: ignore[no-any-return]


Bus = Annotated[CommandBus, Depends(bus)]


async def if_match(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The revision named by If-Match (`"3"`, `W/"3"`, `*` = any)."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag this API issued")
    return int(raw)


async def command_id(
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> str:
    """The command id: the client's Idempotency-Key, or a fresh one."""
    return f"idem:{idempotency_key}" if idempotency_key else str(uuid.uuid4())


IfMatch = Annotated[int | None, Depends(if_match)]
CommandId = Annotated[str, Depends(command_id)]


def _dependants(root: Dependant) -> Iterator[Dependant]:
    yield root
    for dependency in root.dependencies:
        yield from _dependants(dependency)


def answerable_problems(route: APIRoute) -> list[int]:
    """The problems a route can answer, read from what it takes and what it reaches.

    A body may be malformed (400) or too large (413); a call needing a token may come
    without a valid one (401) or with one that may not make it (403); any body or parameter
    may be invalid (422; FastAPI validates them all); a path names an entity that may not
    exist (404); a command (it takes Idempotency-Key) may be illegal in the entity's status
    (409); If-Match may name an old revision (412); whatever goes over the bus, or looks a
    token up in MongoDB, may find it down (503).
    A route answering more (a query refused in some status) declares it in `responses`.
    """
    tree = list(_dependants(route.dependant))
    calls = {dependant.call for dependant in tree}
    authenticated = caller in calls
    causes = {
        400: route.body_field is not None,
        401: authenticated,
        403: authenticated,
        404: any(dependant.path_params for dependant in tree),
        409: command_id in calls,
        412: if_match in calls,
        413: route.body_field is not None,
        422: route.body_field is not None or bool(get_flat_params(route.dependant)),
        503: bus in calls or authenticated,
    }
    return [status for status, possible in causes.items() if possible]


class DocumentedRoute(APIRoute):
    """A route whose OpenAPI operation lists every problem it can answer (see
    `answerable_problems`) next to the responses it declares."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.responses = {**problems(*answerable_problems(self)), **self.responses}


class PrefixRouter(APIRouter):
    """An APIRouter that a call whose path does not hold its prefix passes over at once.
    FastAPI tries each route of each included router in turn (a regular expression and some
    bookkeeping each, about 4 µs); with some hundred routes, a call to one of the last
    routers paid for all the routes before it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        # `in`, not `startswith`: the router may be included under a prefix of its own.
        if self.prefix not in get_route_path(scope):
            return Match.NONE, {}
        return super().matches(scope)


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
