"""Health, readiness and metrics."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway_contracts import subjects
from slipway_gateway.entrypoints.http import Bus, DocumentedRoute
from slipway_gateway.entrypoints.problems import problem
from slipway_gateway.settings import GatewaySettings
from slipway_libs import context
from slipway_libs.errors import SlipwayError
from slipway_observability import tracing

router = APIRouter(tags=["system"], route_class=DocumentedRoute)
TRACER = tracing.tracer("slipway_gateway")
REQUESTS = Counter("slipway_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("slipway_http_request_seconds", "HTTP request latency", ["method", "route"])
# Refused calls by client address: the alert on repeated 401/403 from one source reads it.
DENIED = Counter("slipway_http_denied_total", "Calls refused 401 or 403", ["source", "status"])
# One line per call (uvicorn's own access log is off): who, what, the status, how long.
ACCESS = logging.getLogger("slipway_gateway.access")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The gateway process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, bus: Bus) -> JSONResponse:
    """Ready when NATS is connected, the gateway's MongoDB (tokens, audit log) answers, and
    every required service (and its MongoDB) answers."""
    settings = request.app.state.settings
    checks: dict[str, str] = {"nats": "ok" if bus.connected else "unavailable"}

    async def check_database() -> None:
        try:
            await request.app.state.database.ping()
            checks["mongodb"] = "ok"
        except SlipwayError as exc:
            checks["mongodb"] = exc.message

    async def check(service: str) -> None:
        try:
            await bus.request(subjects.health(service), {}, timeout_s=2.0)
            checks[service] = "ok"
        except SlipwayError as exc:
            checks[service] = exc.message

    services = settings.ready_services if bus.connected else []
    await asyncio.gather(check_database(), *(check(s) for s in services))
    failing = {k: v for k, v in checks.items() if v != "ok"}
    if failing:
        detail = "; ".join(f"{k}: {v}" for k, v in failing.items())
        response = problem(
            request, 503, f"not ready: {detail}", "unavailable", retry_after=settings.retry_after_s
        )
        return response
    return JSONResponse({"status": "ready", "checks": checks, "monitoring": monitoring(settings)})


def monitoring(settings: GatewaySettings) -> dict[str, str | None]:
    """Where Prometheus and Alertmanager answer (None: not running beside this gateway)."""
    return {"prometheus": settings.prometheus_url, "alertmanager": settings.alertmanager_url}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics; who may read them: `SLIPWAY_METRICS_ACCESS`."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def install_middleware(app: FastAPI) -> None:
    """Correlation ids (X-Request-ID in and out), request metrics and the access log."""
    app.add_middleware(Correlation)


class Correlation:
    """The middleware binding each call's correlation id (X-Request-ID, made up when absent),
    answering it back, counting and timing the call, and making it a server span of the trace
    its `traceparent` names, or of a new one (plain ASGI: no task per call)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Spans are made only when exported: otherwise the call stays in the trace its
        # `traceparent` names (passed on to the services), at no cost per call.
        self.traced = tracing.enabled()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = headers.get(context.CORRELATION_HEADER) or context.new_id()
        context.bind(request_id, None)
        started = time.perf_counter()
        traceparent = headers.get(tracing.TRACEPARENT)
        with tracing.continued(traceparent):
            if not self.traced:
                await self._call(scope, receive, send, request_id, started)
                return
            name = f"{scope['method']} {scope['path']}"
            with TRACER.start_as_current_span(name, kind=SpanKind.SERVER) as span:
                span.set_attribute("slipway.correlation_id", request_id)
                await self._call(scope, receive, send, request_id, started)

    async def _call(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, started: float
    ) -> None:
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[context.CORRELATION_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            elapsed = time.perf_counter() - started
            path = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], path, str(status)).inc()
            LATENCY.labels(scope["method"], path).observe(elapsed)
            client = scope.get("client") or ("unknown", 0)
            if status in (401, 403):
                DENIED.labels(str(client[0]), str(status)).inc()
            if ACCESS.isEnabledFor(logging.INFO):
                ACCESS.info(access_line(scope, client, status, elapsed))


def access_line(scope: Scope, client: tuple[str, int], status: int, elapsed_s: float) -> str:
    """`127.0.0.1:50312 - "POST /api/deployments HTTP/1.1" 202 12.3 ms`: uvicorn's access
    line, with the time the call took. Built here, as one string: cheaper than uvicorn's."""
    query = scope.get("query_string", b"")
    target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
    return (
        f'{client[0]}:{client[1]} - "{scope["method"]} {target} HTTP/{scope["http_version"]}" '
        f"{status} {elapsed_s * 1000:.1f} ms"
    )
