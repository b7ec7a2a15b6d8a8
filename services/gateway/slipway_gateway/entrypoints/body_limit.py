"""Request bodies over the gateway's limit (`SLIPWAY_MAX_BODY_BYTES`): 413 problem+json,
answered before the body is read whole.

A declared `Content-Length` over the limit is refused before the route runs; a body
without one (chunked) is counted as it streams in and refused once it passes the limit.
Either way the connection closes after the 413, so the rest of the body is never read.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway_gateway.entrypoints.problems import problem


class BodyTooLarge(HTTPException):
    """The body passed the limit while the route read it. An HTTPException, so FastAPI's
    body parsing lets it through instead of answering 400 ("error parsing the body")."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the {limit} bytes the API accepts")


def too_large(request: Request, detail: str) -> JSONResponse:
    """The 413 problem. `Connection: close`: otherwise the server would go on reading the
    rest of the body (to discard it) so as to reuse the connection."""
    response = problem(request, 413, detail, "too_large")
    response.headers["Connection"] = "close"
    return response


class BodyLimit:
    """ASGI middleware refusing a request body over `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            detail = f"the request body is {declared} bytes; the API accepts at most {self.limit}"
            await too_large(Request(scope), detail)(scope, receive, send)
            return
        await self.app(scope, self.counting(receive), send)

    def counting(self, receive: Receive) -> Receive:
        """`receive`, raising BodyTooLarge once the body it delivered passes the limit."""
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge(self.limit)
            return message

        return receive_within_limit


def install(app: FastAPI, limit: int) -> None:
    """Refuse request bodies over `limit` bytes with 413 problem+json."""
    app.add_middleware(BodyLimit, limit=limit)

    @app.exception_handler(BodyTooLarge)
    async def on_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return too_large(request, str(exc.detail))
