"""Traces: OpenTelemetry spans exported over OTLP/HTTP whenever the standard
`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, with the
other standard `OTEL_*` settings (`OTEL_SERVICE_NAME`, `OTEL_BSP_SCHEDULE_DELAY`, ...).

Context travels as W3C `traceparent`: HTTP headers into the gateway, NATS headers between
services (FastStream's `NatsTelemetryMiddleware`, on every worker's broker), the outbox row of each event and job (its
relay publishes it in that context), and the CloudEvents `traceparent` extension attribute.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

TRACEPARENT = "traceparent"
ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_provider: TracerProvider | None = None


def enabled() -> bool:
    """Whether spans are exported (an OTLP endpoint is set, and the SDK not disabled)."""
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    return not disabled and any(os.environ.get(name) for name in ENDPOINTS)


def configure(service: str) -> None:
    """Export this process's spans as `slipway-<service>` (unless `OTEL_SERVICE_NAME` says
    otherwise) when an OTLP endpoint is set; else spans are not recorded at all."""
    global _provider
    if _provider is not None or not enabled():
        return
    name = os.environ.get("OTEL_SERVICE_NAME") or f"slipway-{service}"
    _provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(_provider)


def shutdown() -> None:
    """Send the spans still buffered (at the end of the process)."""
    if _provider is not None:
        _provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span (None outside a recorded trace)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


def current_trace_id() -> str | None:
    """The id of the current trace (32 hex digits), for the logs; None outside one."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def inject(headers: dict[str, str]) -> dict[str, str]:
    """`headers` with the current trace context added (`traceparent`, `tracestate`)."""
    propagate.inject(headers)
    return headers


@contextlib.contextmanager
def continued(carrier: Mapping[str, str] | str | None) -> Iterator[None]:
    """Run the block in the trace context of `carrier` (headers, or a `traceparent`)."""
    if not carrier:
        yield
        return
    headers = {TRACEPARENT: carrier} if isinstance(carrier, str) else dict(carrier)
    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)


@contextlib.contextmanager
def span(name: str, **attributes: str | int) -> Iterator[None]:
    """A span `name` around the block (a backend call: Docker, helm, Kubernetes, a publish),
    child of the current span; an error in the block is recorded on it. Nothing at all when
    spans are not exported, or outside a trace (the periodic loops), so a call costs no
    tracing then."""
    if _provider is None or not trace.get_current_span().get_span_context().is_valid:
        yield
        return
    with _provider.get_tracer("slipway").start_as_current_span(name, attributes=attributes):
        yield
