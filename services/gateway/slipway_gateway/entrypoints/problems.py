"""RFC 9457 problem+json for every error the gateway answers."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from slipway_gateway.access.identity import Unauthenticated
from slipway_libs.errors import SlipwayError, Unavailable
from slipway_libs.messaging import field_errors

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# How a body that should have been a JSON object is named when it is something else.
JSON_KINDS = {
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    code: str | None = None
    errors: list[FieldError] | None = None
    current_status: str | None = None
    current_revision: int | None = None
    required_role: str | None = None
    allowed_namespaces: list[str] | None = None
    rule: str | None = None


# The members of an error's `details` a problem carries as its own (RFC 9457 extensions).
MEMBERS = ("current_status", "current_revision", "required_role", "allowed_namespaces", "rule")


def problem(
    request: Request,
    status: int,
    detail: str,
    code: str | None = None,
    details: Any = None,
    retry_after: int | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://slipway.dev/problems/{code}" if code else "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if code:
        body["code"] = code
    if isinstance(details, list):
        body["errors"] = details
    elif isinstance(details, dict):
        body.update({k: v for k, v in details.items() if k in MEMBERS})
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def error_problem(request: Request, exc: SlipwayError, retry_after_s: int) -> JSONResponse:
    """The problem answering a classified error (503 with Retry-After, 401 with its
    `WWW-Authenticate` challenge)."""
    if exc.http_status >= 500 and not isinstance(exc, Unavailable):
        log.error("request failed", extra={"error": exc.message})
    retry = retry_after_s if isinstance(exc, Unavailable) else None
    response = problem(request, exc.http_status, exc.message, exc.code, exc.details, retry)
    if isinstance(exc, Unauthenticated):
        response.headers["WWW-Authenticate"] = exc.challenge
    return response


def malformed_json(exc: RequestValidationError) -> str | None:
    """What is wrong with a body that is not JSON at all, and where; None if it is JSON."""
    for error in exc.errors():
        if error["type"] == "json_invalid":
            document = exc.body if isinstance(exc.body, str) else ""
            located = json.JSONDecodeError(error["ctx"]["error"], document, error["loc"][-1])
            return f"the body is not valid JSON: {located}"
    return None


def field_message(error: dict[str, Any]) -> str:
    """A validation error's message; a body that is not an object says what it is."""
    if error["type"] == "missing" and tuple(error["loc"]) == ("body",):
        return "is required: a JSON object"
    if error["type"] == "model_attributes_type" and tuple(error["loc"]) == ("body",):
        given = error.get("input")
        if isinstance(given, bytes):  # sent without Content-Type: application/json
            return "is not JSON: send it with Content-Type: application/json"
        return f"must be a JSON object, not {JSON_KINDS.get(type(given), 'that')}"
    return str(error["msg"]).removeprefix("Value error, ")


def install(app: FastAPI, retry_after_s: int) -> None:
    """Route every error through problem+json; no stack trace ever reaches a client."""

    @app.exception_handler(SlipwayError)
    async def on_slipway(request: Request, exc: SlipwayError) -> JSONResponse:
        return error_problem(request, exc, retry_after_s)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Not JSON at all is a syntax error (400); JSON of the wrong shape is invalid (422).
        if malformed := malformed_json(exc):
            return problem(request, 400, malformed, "malformed")
        errors = []
        for error in exc.errors():
            loc = [str(p) for p in error["loc"]]
            where = loc[0] if loc else "body"
            path = ".".join(loc[1:]) if where == "body" else ".".join(loc)
            errors.append({"field": path or "body", "message": field_message(error)})
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(request, 422, f"invalid input: {summary}", "invalid", errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's "error parsing the body"
            detail = f"the body is not valid JSON: {exc.__cause__}"
        code = "malformed" if exc.status_code == 400 else None
        return problem(request, exc.status_code, detail, code)

    @app.exception_handler(Exception)
    async def on_other(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(request, 500, "internal error; see the gateway log", "internal")


__all__ = ["PROBLEM", "Problem", "error_problem", "field_errors", "install", "problem"]
