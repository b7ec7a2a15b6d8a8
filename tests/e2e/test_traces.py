"""One trace per request: a POST /api/deployments on a whole stack exporting OTLP/HTTP to a
tiny real receiver (an HTTP server on 127.0.0.1 decoding the protobuf with
opentelemetry-proto) has spans from the gateway, the workload-manager (down to its
Kubernetes calls) and the cluster-manager (the image load), then the relay's publish of its
events, which carry the trace as `traceparent`; a POST /api/helm-charts reaches helm."""

from __future__ import annotations

import gzip
import secrets
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from slipway_contracts import subjects
from tests.e2e.test_helm_charts import chart_body
from tests.e2e.test_workloads import build_image, deployment_body, start_cluster
from tests.events import replay
from tests.stack import Stack, wait_status
from tests.waiting import poll

pytestmark = pytest.mark.slow


class OtlpReceiver:
    """Collects the spans posted to `/v1/traces`: (service.name, trace id, span name)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the exporter's only call
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.take(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def take(self, request: ExportTraceServiceRequest) -> None:
        with self.lock:
            for resource_spans in request.resource_spans:
                attributes = {
                    a.key: a.value.string_value for a in resource_spans.resource.attributes
                }
                service = attributes.get("service.name", "")
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append((service, span.trace_id.hex(), span.name))

    def of_trace(self, trace_id: str) -> list[tuple[str, str]]:
        with self.lock:
            return [(service, name) for service, tid, name in self.spans if tid == trace_id]


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, OtlpReceiver]]:
    receiver = OtlpReceiver()
    receiver.thread.start()
    base = tmp_path_factory.mktemp("traced")
    stack = Stack(state_dir=base / "state", build_root=base / "builds")
    stack.env_overrides = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    try:
        yield stack.start(), receiver
    finally:
        stack.stop()
        receiver.server.shutdown()
        receiver.server.server_close()


def test_one_post_of_a_deployment_is_one_trace_across_the_services(traced):
    stack, receiver = traced
    with stack.client() as client:
        cluster = start_cluster(client, f"traced-{uuid.uuid4().hex[:6]}")
        image = build_image(client, f"e2e/traced-{uuid.uuid4().hex[:8]}")
        trace_id = secrets.token_hex(16)
        traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        response = client.post(
            "/api/deployments",
            json=deployment_body(cluster, image, replicas=1),
            headers={"traceparent": traceparent},
        )
        assert response.status_code == 202, response.text
        deployment = response.json()
        running = wait_status(client, response.headers["Location"], {"running", "failed"}, 60)
        assert running["status"] == "running", running.get("reason")

    wanted = {"slipway-gateway", "slipway-workload-manager", "slipway-cluster-manager"}

    def services() -> set[str] | None:
        spans = receiver.of_trace(trace_id)
        seen = {service for service, _ in spans}
        published = any(name.startswith("publish slipway.events.deployment.") for _, name in spans)
        return seen if wanted <= seen and published else None

    try:
        poll(services, timeout_s=30, what="spans of the three services and the publish")
    except AssertionError:
        pytest.fail(f"spans of the trace: {sorted(set(receiver.of_trace(trace_id)))}")
    names = set(receiver.of_trace(trace_id))
    assert ("slipway-gateway", "POST /api/deployments") in names
    assert any(
        service == "slipway-cluster-manager" and "load_image" in name for service, name in names
    ), sorted(names)
    workload_manager = {name for service, name in names if service == "slipway-workload-manager"}
    assert "kubernetes apply" in workload_manager, sorted(names)  # the rollout's own calls
    assert any(name.startswith("publish slipway.events.deployment.") for name in workload_manager)
    assert any(name.startswith("publish slipway.jobs.") for name in workload_manager)

    logged = (stack.state_dir / "logs" / "gateway.log").read_text()
    assert f'"trace_id": "{trace_id}"' in logged  # the logs name the trace

    events = replay(stack.events_reader, subjects.event(subjects.DEPLOYMENT, ">"), 0.5)
    mine = [e for _, e in events if e["subject"] == deployment["id"]]
    assert {e["type"] for e in mine} >= {"io.slipway.deployment.created.v1"}
    assert all(e["traceparent"].split("-")[1] == trace_id for e in mine), mine


def test_a_chart_validation_traces_down_to_the_helm_calls(traced):
    stack, receiver = traced
    trace_id = secrets.token_hex(16)
    with stack.client() as client:
        response = client.post(
            "/api/helm-charts",
            json=chart_body(namespace=f"traced-{uuid.uuid4().hex[:6]}"),
            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        )
        assert response.status_code == 202, response.text
        chart = wait_status(client, response.headers["Location"], {"valid", "invalid"}, 60)
    assert chart["status"] == "valid", chart.get("reason")

    def helm_calls() -> set[str] | None:
        spans = receiver.of_trace(trace_id)
        called = {name for service, name in spans if service == "slipway-chart-validator"}
        return called if {"helm lint", "helm template"} <= called else None

    try:
        poll(helm_calls, timeout_s=30, what="the chart-validator's helm spans")
    except AssertionError:
        pytest.fail(f"spans of the trace: {sorted(set(receiver.of_trace(trace_id)))}")
