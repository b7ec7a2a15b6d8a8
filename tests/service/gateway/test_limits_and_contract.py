"""Limits and the contract: a body over the gateway's limit is a 413 answered before the
body is read whole, a body that is not JSON is a 400 naming where it breaks, JSON that is
not an object is a 422, and the OpenAPI document lists every problem each operation can
answer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import h11
import httpx
import pytest
import pytest_asyncio

from slipway_gateway.app import create_app
from slipway_gateway.settings import GatewaySettings
from slipway_libs import context
from tests.service.gateway.conftest import StubService, assert_problem, running_gateway

MiB = 1024 * 1024
DEFAULT_LIMIT = 8 * MiB
SMALL_LIMIT = 2048
CHUNK = 64 * 1024
DEPLOYMENTS = "/api/deployments"
WEB = {"name": "web", "cluster_id": "c1", "image": "todo/web:1.0.0", "container_port": 8080}
CHART = {"name": "todo", "version": "0.1.0", "app_version": "1.0.0"}


# --- a client that reads the answer while it sends ----------------------------------------


@dataclass
class Exchange:
    """One request on its own connection, as the client saw it."""

    response: h11.Response
    body: bytes
    sent: int  # body bytes the client had sent when the exchange ended
    closed: bool  # the server closed the connection after answering

    @property
    def status(self) -> int:
        return self.response.status_code

    def header(self, name: str) -> str:
        return dict(self.response.headers)[name.lower().encode()].decode()

    def problem(self) -> dict[str, Any]:
        assert self.header("content-type") == "application/problem+json", self.body
        problem: dict[str, Any] = json.loads(self.body)
        assert problem["status"] == self.status
        return problem


async def read_response(reader: asyncio.StreamReader, wire: h11.Connection) -> Exchange:
    response, body = None, b""
    while True:
        event = wire.next_event()
        if event is h11.NEED_DATA:
            wire.receive_data(await reader.read(CHUNK))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert response is not None
            return Exchange(response, body, 0, False)
        else:
            raise AssertionError(f"unexpected {event!r}")


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closes the connection (a hang here fails the test's timeout)."""
    try:
        return await reader.read(CHUNK) == b""
    except ConnectionError:  # closed with the unread body still in its buffers: a reset
        return True


async def post(
    gateway: httpx.AsyncClient,
    path: str,
    headers: list[tuple[str, str]],
    body: Iterable[bytes] | None,
    *,
    content_type: str = "application/json",
    until_closed: bool = True,
) -> Exchange:
    """POST `body` (None: the headers only, the body never comes) reading the answer while
    still sending, as curl and browsers do. httpx's async client reads only once it has
    sent everything, so an early answer on a connection the server then closes is lost
    to it: that is the case under test here. `until_closed`: wait for the server to close
    the connection (else the exchange ends with the answer; `closed` stays False)."""
    url = gateway.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    wire = h11.Connection(h11.CLIENT)
    token = [("Authorization", gateway.headers["authorization"])]
    request = h11.Request(
        method="POST",
        target=path,
        headers=[("Host", str(url.host)), ("Content-Type", content_type), *token, *headers],
    )
    writer.write(wire.send(request) or b"")
    sent = 0

    async def send_body() -> None:
        nonlocal sent
        for chunk in body or ():
            writer.write(wire.send(h11.Data(data=chunk)) or b"")
            await writer.drain()
            sent += len(chunk)
        if body is not None:
            writer.write(wire.send(h11.EndOfMessage()) or b"")
            await writer.drain()

    sending = asyncio.create_task(send_body())
    try:
        async with asyncio.timeout(30):
            exchange = await read_response(reader, wire)
            exchange.closed = until_closed and await closed_by_server(reader)
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()
    exchange.sent = sent
    return exchange


def endless() -> Iterator[bytes]:
    """A body that would never end."""
    return itertools.repeat(b" " * CHUNK)


def padded(payload: dict[str, Any], size: int) -> bytes:
    """`payload` as JSON of exactly `size` bytes (trailing whitespace is valid JSON)."""
    text = json.dumps(payload).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


def in_chunks(data: bytes, size: int = 500) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


# --- fixtures -----------------------------------------------------------------------------


def pending(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "status": "pending"}


@pytest_asyncio.fixture(loop_scope="session")
async def workloads(serve) -> StubService:
    return await serve(StubService("deployment", pending))


@pytest_asyncio.fixture(loop_scope="session")
async def charts(serve) -> StubService:
    return await serve(StubService("helm_chart", pending))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def small(gateway_settings) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway taking bodies of at most SMALL_LIMIT bytes."""
    settings = gateway_settings(max_body_bytes=SMALL_LIMIT)
    async with running_gateway(settings) as client:
        yield client


# --- 413 ----------------------------------------------------------------------------------


def test_the_default_limit_leaves_room_for_a_chart_upload_as_json():
    archive = 4 * MiB  # the chart-validator's default SLIPWAY_ARCHIVE_MAX_BYTES
    as_json = len(json.dumps({**CHART, "source": {"archive": "A" * (archive * 4 // 3 + 4)}}))

    assert GatewaySettings.model_fields["max_body_bytes"].default == DEFAULT_LIMIT > as_json


async def test_a_20_mb_body_is_refused_from_its_content_length_before_any_of_it_is_sent(
    gateway,
):
    exchange = await post(gateway, DEPLOYMENTS, [("Content-Length", "20000000")], body=None)

    assert exchange.status == 413
    problem = exchange.problem()
    assert problem["code"] == "too_large"
    assert "20000000" in problem["detail"] and str(DEFAULT_LIMIT) in problem["detail"]
    assert exchange.sent == 0
    # The server closes the connection rather than read the announced 20 MB to discard it.
    assert exchange.header("connection") == "close" and exchange.closed
    assert exchange.header(context.CORRELATION_HEADER)


async def test_a_chunked_body_is_cut_off_with_413_once_it_passes_the_limit(gateway):
    # Sent with no Content-Length, endlessly: only counting it as it streams can stop it.
    exchange = await post(gateway, DEPLOYMENTS, [("Transfer-Encoding", "chunked")], endless())

    assert exchange.status == 413
    assert str(DEFAULT_LIMIT) in exchange.problem()["detail"]
    assert exchange.closed
    # The limit, plus what the sockets' buffers took before the connection closed.
    assert DEFAULT_LIMIT < exchange.sent < 4 * DEFAULT_LIMIT


async def test_a_20_mb_chart_upload_is_413_before_the_form_is_parsed(gateway, charts):
    exchange = await post(
        gateway,
        "/api/helm-charts",
        [("Content-Length", "20000000")],
        body=None,
        content_type="multipart/form-data; boundary=x",
    )

    assert exchange.status == 413
    assert exchange.problem()["instance"] == "/api/helm-charts"
    assert charts.received == []


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_of_exactly_the_limit_is_taken_and_one_byte_more_is_413(
    small, workloads, framing
):
    def headers(data: bytes) -> list[tuple[str, str]]:
        if framing == "chunked":
            return [("Transfer-Encoding", "chunked")]
        return [("Content-Length", str(len(data)))]

    at_limit = padded(WEB, SMALL_LIMIT)
    taken = await post(
        small, DEPLOYMENTS, headers(at_limit), in_chunks(at_limit), until_closed=False
    )
    over = padded(WEB, SMALL_LIMIT + 1)
    refused = await post(small, DEPLOYMENTS, headers(over), in_chunks(over))

    assert taken.status == 202, taken.body
    assert refused.status == 413
    assert refused.problem()["detail"]
    assert refused.closed
    assert len(workloads.commands("create")) == 1


async def test_a_body_under_the_limit_streams_in_as_before(gateway, workloads):
    body = padded(WEB, 64 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in in_chunks(body, 4096):
            yield chunk

    response = await gateway.post(
        DEPLOYMENTS, content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 202, response.text
    assert workloads.commands("create")[0].payload["name"] == "web"


async def test_a_chart_upload_under_the_limit_is_taken(gateway, charts):
    archive = bytes(range(256)) * (MiB // 256)  # 1 MiB of .tgz, as far as the gateway cares

    response = await gateway.post(
        "/api/helm-charts", data=CHART, files={"chart": ("todo-0.1.0.tgz", archive)}
    )

    assert response.status_code == 202, response.text
    [sent] = charts.commands("create")
    assert base64.b64decode(sent.payload["source"]["archive"]) == archive


# --- 400 and 422: not JSON, not an object -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", DEPLOYMENTS),
        ("PUT", f"{DEPLOYMENTS}/d1"),
        ("POST", f"{DEPLOYMENTS}/d1/scale"),
        ("POST", "/api/helm-charts"),
        ("POST", "/api/releases"),
        ("POST", "/api/minikube-clusters"),
    ],
)
async def test_a_body_that_is_not_json_is_400_naming_where_it_breaks(gateway, method, path):
    response = await gateway.request(
        method, path, content=b'{"name": "web",\n "replicas": }', headers=json_type()
    )

    problem = assert_problem(response, 400)
    assert problem["code"] == "malformed"
    assert problem["detail"] == (
        "the body is not valid JSON: Expecting value: line 2 column 14 (char 29)"
    )


async def test_a_body_that_is_not_utf_8_is_400(gateway):
    response = await gateway.post(DEPLOYMENTS, content=b'{"name": "\x80"}', headers=json_type())

    problem = assert_problem(response, 400)
    assert "not valid JSON" in problem["detail"] and "position 10" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "kind"),
    [(b"[1, 2]", "an array"), (b'"web"', "a string"), (b"null", "null"), (b"3", "a number")],
)
async def test_json_that_is_not_an_object_is_422_naming_the_body(gateway, body, kind):
    response = await gateway.post(DEPLOYMENTS, content=body, headers=json_type())

    problem = assert_problem(response, 422, {"body"})
    assert problem["errors"][0]["message"] == f"must be a JSON object, not {kind}"


async def test_a_body_sent_as_text_is_422_asking_for_json(gateway):
    response = await gateway.post(
        DEPLOYMENTS, content=json.dumps(WEB), headers={"Content-Type": "text/plain"}
    )

    problem = assert_problem(response, 422, {"body"})
    assert "Content-Type: application/json" in problem["detail"]


# --- the contract -------------------------------------------------------------------------


def expected_problems(path: str, operation: dict[str, Any]) -> set[str]:
    """What an operation can answer besides success, from its shape."""
    headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
    expected = set()
    if "requestBody" in operation:
        expected |= {"400", "413", "422"}
    if re.search(r"\{\w+_id\}", path):
        expected.add("404")
    if "Idempotency-Key" in headers:  # a command
        expected |= {"409", "422"}
    if "If-Match" in headers:
        expected.add("412")
    if path.startswith("/api/") or path == "/readyz":
        expected.add("503")
    if path.startswith("/api/"):
        expected |= {"401", "403"}
    if path == "/api/alerts/webhook":  # Alertmanager's shared secret holds no role to lack
        expected.discard("403")
    return expected


def test_every_operation_documents_the_problems_it_can_answer():
    document = create_app(GatewaySettings()).openapi()
    missing, not_problems = [], []

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            absent = expected_problems(path, operation) - set(responses)
            if absent:
                missing.append(f"{method.upper()} {path}: {sorted(absent)}")
            for status, response in responses.items():
                if int(status) >= 400 and set(response["content"]) != {"application/problem+json"}:
                    not_problems.append(f"{method.upper()} {path} {status}")

    assert not missing, "undocumented problems:\n" + "\n".join(missing)
    assert not not_problems, "errors documented as something else than problem+json"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/minikube-clusters/{cluster_id}/kubeconfig", "409"),  # not running
        ("get", "/api/releases/{release_id}/manifest", "409"),  # uninstalled
        ("post", "/api/deployments", "413"),
        ("post", "/api/helm-charts", "413"),
    ],
)
def test_problems_particular_to_a_route_are_documented(method, path, status):
    document = create_app(GatewaySettings()).openapi()

    assert status in document["paths"][path][method]["responses"]


def test_reads_document_no_problem_they_cannot_answer():
    document = create_app(GatewaySettings()).openapi()

    listing = document["paths"]["/api/deployments"]["get"]["responses"]
    assert set(listing) == {"200", "401", "403", "422", "503"}
    assert set(document["paths"]["/healthz"]["get"]["responses"]) == {"200"}
