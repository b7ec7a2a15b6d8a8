"""The MCP server end to end: the official MCP Python client over streamable HTTP at `/mcp`,
with tokens of each role, against the whole running stack. Beside the shared stack's
gateway (`SLIPWAY_MCP_MODE` left at `approve`), two more gateways on the same stack run
`read-only` and `auto`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import slipway_devstack as devstack
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, Implementation, TextResourceContents

from tests.chat_model import EXPLANATION, ChatModel
from tests.e2e.test_access import admin_token, bearer, sim_cluster
from tests.e2e.test_workloads import build_image, start_cluster
from tests.stack import ROOT, Stack, wait_status
from tests.waiting import eventually

pytestmark = pytest.mark.slow
# The advisors: read-only, for every role, in every mode.
ADVISOR_TOOLS = {
    "advise_dockerfile",
    "advise_build",
    "diagnose_deployment",
    "recommend_resources",
    "cluster_health",
}
READ_TOOLS = ADVISOR_TOOLS | {
    "list_images",
    "get_image",
    "list_charts",
    "get_chart",
    "list_clusters",
    "get_cluster",
    "list_deployments",
    "get_deployment",
    "list_services",
    "get_service",
    "list_releases",
    "get_release",
}
CLIENT = Implementation(name="slipway-e2e", version="1.0")
# `make install` puts the MCP Inspector here (scripts/install-mcp-inspector).
INSPECTOR = ROOT / ".tools" / "mcp-inspector" / "node_modules" / ".bin" / "mcp-inspector"


@asynccontextmanager
async def mcp_client(base_url: str, token: str) -> AsyncIterator[Client]:
    """The official client on the gateway's `/mcp`, sending the token on every request."""
    http = httpx2.AsyncClient(headers=bearer(token), timeout=30)
    transport = streamable_http_client(f"{base_url}/mcp", http_client=http)
    async with http, Client(transport, client_info=CLIENT) as client:
        yield client


def structured(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    return " ".join(getattr(block, "text", "") for block in result.content)


@contextmanager
def extra_gateway(stack: Stack, mode: str, **settings: str) -> Iterator[str]:
    """Another gateway on the stack (same NATS, MongoDB and tokens) in `mode`, with more
    `SLIPWAY_*` settings if given; its URL."""
    port = devstack.free_port()
    env = {**stack.env("gateway"), "SLIPWAY_PORT": str(port), "SLIPWAY_MCP_MODE": mode}
    env |= {f"SLIPWAY_{name.upper()}": value for name, value in settings.items()}
    process = devstack.service_process(f"gateway-{mode}", "slipway_gateway", stack.state_dir, env)
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        devstack.wait_until(lambda: devstack.http_ok(f"{url}/healthz"), 60, f"gateway {mode}")
        yield url
    finally:
        process.stop()


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(admin_token(stack))) as c:
        yield c


def token_of(admin: httpx.Client, role: str, **fields: Any) -> str:
    body = {"name": f"mcp-{role}-{uuid.uuid4().hex[:6]}", "role": role, **fields}
    response = admin.post("/api/tokens", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


@pytest.fixture(scope="module")
def viewer(admin: httpx.Client) -> str:
    return token_of(admin, "viewer")


@pytest.fixture(scope="module")
def operator(admin: httpx.Client) -> str:
    return token_of(admin, "operator")


@pytest.fixture(scope="module")
def cluster(admin: httpx.Client) -> dict[str, Any]:
    response = admin.post("/api/minikube-clusters", json=sim_cluster())
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def read_only_url(stack: Stack) -> Iterator[str]:
    with extra_gateway(stack, "read-only") as url:
        yield url


@pytest.fixture(scope="module")
def auto_url(stack: Stack) -> Iterator[str]:
    with extra_gateway(stack, "auto") as url:
        yield url


def run_deployment(admin: httpx.Client) -> dict[str, Any]:
    """A new Deployment of a built image (1 replica), running on a started (simulated) cluster."""
    image = build_image(admin, f"e2e/mcp-{uuid.uuid4().hex[:8]}")
    running_cluster = start_cluster(admin, f"mcp-{uuid.uuid4().hex[:6]}")
    body = {
        "name": f"web-{uuid.uuid4().hex[:6]}",
        "cluster_id": running_cluster["id"],
        "image_id": image["id"],
        "replicas": 1,
        "container_port": 8080,
        "progress_deadline_seconds": 20,
    }
    created = admin.post("/api/deployments", json=body)
    assert created.status_code == 202, created.text
    return wait_status(admin, created.headers["Location"], {"running"}, 60)


@pytest.fixture(scope="module")
def running_deployment(admin: httpx.Client) -> dict[str, Any]:
    return run_deployment(admin)


def test_mcp_without_a_token_is_401_with_a_bearer_challenge(stack: Stack):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    response = httpx.post(f"{stack.base_url}/mcp", json=body, timeout=30)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_viewer_lists_only_read_tools_and_they_answer_as_rest(
    stack: Stack, admin, viewer, cluster
):
    async with mcp_client(stack.base_url, viewer) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == READ_TOOLS
        assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools.values())
        assert tools["list_deployments"].input_schema["properties"]["status"]
        got = structured(await client.call_tool("get_cluster", {"id": cluster["id"]}))
        assert got == admin.get(f"/api/minikube-clusters/{cluster['id']}").json()
        page = structured(await client.call_tool("list_clusters", {"limit": 500}))
        assert page == admin.get("/api/minikube-clusters", params={"limit": 500}).json()
        for kind in ("images", "charts", "deployments", "services", "releases"):
            listed = structured(await client.call_tool(f"list_{kind}", {"limit": 1}))
            assert set(listed) == {"items", "next_cursor"}
        refused = await client.call_tool("stop_cluster", {"id": cluster["id"]})
        assert "viewer" in error_text(refused) and "operator" in error_text(refused)
        resource = await client.read_resource(f"slipway://minikube-clusters/{cluster['id']}")
        content = resource.contents[0]
        assert isinstance(content, TextResourceContents) and cluster["id"] in content.text
        events = (await client.read_resource("slipway://events/recent")).contents[0]
        assert isinstance(events, TextResourceContents)
        assert cluster["id"] in {event["subject"] for event in json.loads(events.text)}
        with pytest.raises(MCPError, match="operator"):
            await client.read_resource(f"slipway://container-images/{cluster['id']}/logs")


async def test_an_operator_lists_change_tools_marked_and_bad_arguments_name_the_field(
    stack: Stack, operator, cluster
):
    async with mcp_client(stack.base_url, operator) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        changes = set(tools) - READ_TOOLS
        assert {"build_image", "validate_chart", "start_cluster", "stop_cluster"} <= changes
        assert {"deploy_image", "scale_deployment", "expose_deployment"} <= changes
        assert {"delete_image", "delete_chart", "delete_cluster", "delete_deployment"} <= changes
        for name in changes:
            hints = tools[name].annotations
            assert hints is not None and hints.read_only_hint is False, name
            assert hints.destructive_hint is name.startswith(("delete_", "uninstall_")), name
        schema = tools["scale_deployment"].input_schema
        assert schema["properties"]["replicas"]["minimum"] == 1
        bad = await client.call_tool("scale_deployment", {"id": "x", "replicas": 0})
        assert "replicas" in error_text(bad) and "greater than or equal to 1" in error_text(bad)
        prompts = {prompt.name for prompt in (await client.list_prompts()).prompts}
        assert {"diagnose-deployment", "optimise-dockerfile", "cluster-health"} <= prompts


async def test_read_only_mode_lists_no_change_tool_and_refuses_a_crafted_call(
    stack: Stack, admin, operator, cluster, read_only_url
):
    async with mcp_client(read_only_url, operator) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == READ_TOOLS
        refused = await client.call_tool("start_cluster", {"id": cluster["id"]})
        assert "read-only" in error_text(refused)
        health = structured(await client.call_tool("cluster_health", {"id": cluster["id"]}))
        assert health == admin.get(f"/api/advice/minikube-clusters/{cluster['id']}/health").json()
    unchanged = admin.get(f"/api/minikube-clusters/{cluster['id']}").json()
    assert (unchanged["status"], unchanged["revision"]) == ("stopped", cluster["revision"])
    entries = admin.get("/api/audit", params={"verb": "start_cluster", "limit": 50}).json()
    refusal = next(e for e in entries["items"] if e["objectRef"]["name"] == cluster["id"])
    assert refusal["annotations"]["slipway.io/via"] == "mcp"
    assert refusal["annotations"]["slipway.io/mcp-client"] == "slipway-e2e 1.0"
    assert refusal["responseStatus"]["status"] == "Failure"


async def test_a_viewer_asks_the_advisors_and_they_answer_as_rest(
    stack: Stack, admin, viewer, running_deployment
):
    deployment_id = running_deployment["id"]
    async with mcp_client(stack.base_url, viewer) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) >= ADVISOR_TOOLS
        for name in ADVISOR_TOOLS:
            hints = tools[name].annotations
            assert hints is not None, name
            assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (
                True,
                False,
                True,
            ), name
        assert tools["advise_dockerfile"].input_schema["required"] == ["context"]
        diagnosis = structured(await client.call_tool("diagnose_deployment", {"id": deployment_id}))
        rest = admin.get(f"/api/advice/deployments/{deployment_id}")
        assert rest.status_code == 200, rest.text
        assert diagnosis == rest.json()
        assert (diagnosis["status"], diagnosis["healthy"]) == ("running", True)
        review = structured(
            await client.call_tool("advise_dockerfile", {"context": "hello-server"})
        )
        assert review["mode"] == "review" and review["findings"]
        assert "slipway.dockerignore" in {finding["rule"] for finding in review["findings"]}
        assert "USER" in review["proposed_dockerfile"]
        missing = await client.call_tool("diagnose_deployment", {"id": str(uuid.uuid4())})
        assert "not_found" in error_text(missing)

    def audited() -> dict[str, Any] | None:
        params = {"verb": "diagnose_deployment", "name": deployment_id}
        return next(iter(admin.get("/api/audit", params=params).json()["items"]), None)

    entry = await eventually(audited, what="the diagnosis's audit entry")
    assert entry["objectRef"]["resource"] == "advice"
    assert entry["annotations"]["slipway.io/via"] == "mcp"


async def test_with_a_language_model_an_advisor_tool_answers_its_explanation_as_rest_does(
    stack: Stack, viewer, cluster
):
    model = ChatModel()
    model.thread.start()
    try:
        with extra_gateway(
            stack, "read-only", ai_chat_url=model.url, ai_model="tiny-explainer"
        ) as url:
            async with mcp_client(url, viewer) as client:
                health = structured(await client.call_tool("cluster_health", {"id": cluster["id"]}))
            rest = httpx.get(
                f"{url}/api/advice/minikube-clusters/{cluster['id']}/health",
                headers=bearer(viewer),
                timeout=30,
            )
    finally:
        model.server.shutdown()
        model.server.server_close()
    assert health["explanation"] == EXPLANATION and health["explanation_note"] is None
    assert rest.status_code == 200, rest.text
    assert health == rest.json()
    assert [request["model"] for request in model.requests] == ["tiny-explainer"] * 2


async def test_auto_mode_scales_a_deployment_and_the_audit_log_names_the_client(
    stack: Stack, admin, operator, auto_url, running_deployment
):
    deployment_id = running_deployment["id"]
    location = f"/api/deployments/{deployment_id}"
    async with mcp_client(auto_url, operator) as client:
        scaled = structured(
            await client.call_tool("scale_deployment", {"id": deployment_id, "replicas": 3})
        )
        assert (scaled["id"], scaled["replicas"]) == (deployment_id, 3)
    running = wait_status(admin, location, {"running", "failed"}, 60)
    assert (running["status"], running["available_replicas"]) == ("running", 3)

    def audited() -> dict[str, Any] | None:
        page = admin.get("/api/audit", params={"verb": "scale_deployment", "name": deployment_id})
        return next(iter(page.json()["items"]), None)

    entry = await eventually(audited, what="the scale's audit entry")
    assert entry["objectRef"] == {
        "resource": "deployments",
        "namespace": "default",
        "name": deployment_id,
        "subresource": "scale",
    }
    assert entry["annotations"]["slipway.io/mcp-client"] == "slipway-e2e 1.0"
    assert entry["responseStatus"]["code"] == 200


async def test_approve_mode_holds_the_scale_until_another_operator_says_yes(
    stack: Stack, admin, operator
):
    """The default mode: the tool call only proposes; the asker cannot approve it; another
    operator's yes sends it; the audit log links the call, the decision and the execution."""
    before = run_deployment(admin)
    deployment_id = before["id"]
    location = f"/api/deployments/{deployment_id}"
    async with mcp_client(stack.base_url, operator) as client:
        answer = structured(
            await client.call_tool("scale_deployment", {"id": deployment_id, "replicas": 3})
        )
    approval_id = answer["approval"]["id"]
    approval_path = f"/api/approvals/{approval_id}"
    pending = admin.get(approval_path).json()
    assert pending["status"] == "pending"
    assert pending["command"]["subject"] == "slipway.deployment.cmd.scale"
    assert pending["requested_by"]["client"] == "slipway-e2e 1.0"
    unchanged = admin.get(location).json()
    assert (unchanged["replicas"], unchanged["revision"]) == (1, before["revision"])

    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(operator)) as asker:
        own = asker.post(f"{approval_path}/approve", json={"reason": "looks fine to me"})
    assert own.status_code == 403, own.text
    assert admin.get(location).json()["replicas"] == 1
    second = token_of(admin, "operator")
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(second)) as approver:
        approved = approver.post(f"{approval_path}/approve", json={"reason": "ok for the demo"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "executed"
    running = wait_status(admin, location, {"running", "failed"}, 60)
    assert (running["status"], running["available_replicas"]) == ("running", 3)

    def linked() -> dict[tuple[str, str], dict[str, Any]] | None:
        entries = admin.get("/api/audit", params={"approval_id": approval_id}).json()["items"]
        by_verb = {(e["verb"], e["responseStatus"]["status"]): e for e in entries}
        wanted = {("scale_deployment", "Success"), ("approve", "Success"), ("scale", "Success")}
        return by_verb if wanted <= by_verb.keys() else None

    by_verb = await eventually(linked, what="the call, the approval and the execution audited")
    call = by_verb[("scale_deployment", "Success")]
    assert call["annotations"]["slipway.io/via"] == "mcp"
    assert call["responseStatus"]["code"] == 202
    execution = by_verb[("scale", "Success")]
    assert execution["user"]["username"] == call["user"]["username"]
    assert (
        execution["annotations"]["slipway.io/approved-by"]
        == (by_verb[("approve", "Success")]["user"]["username"])
    )
    assert ("approve", "Failure") in by_verb  # the asker's own try

    async def same_as_rest() -> bool:  # live usage: equal within one metrics window
        async with mcp_client(stack.base_url, operator) as client:
            got = structured(await client.call_tool("get_deployment", {"id": deployment_id}))
        return bool(got == admin.get(location).json() and got.get("usage"))

    await eventually(same_as_rest, what="get_deployment answering as GET /api/deployments/{id}")


def inspector(url: str, token: str, *arguments: str) -> Any:
    """The MCP Inspector's CLI mode against `url`'s /mcp; its JSON answer."""
    command = [str(INSPECTOR), "--cli", f"{url}/mcp", "--transport", "http"]
    command += ["--header", f"Authorization: Bearer {token}", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="no Node.js for the MCP Inspector")
def test_the_mcp_inspector_cli_lists_and_calls_the_tools(stack: Stack, admin, operator, cluster):
    assert INSPECTOR.exists(), "make install puts the MCP Inspector in .tools/"
    listed = inspector(stack.base_url, operator, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}
    assert names >= READ_TOOLS and "scale_deployment" in names
    called = inspector(
        stack.base_url,
        operator,
        *("--method", "tools/call", "--tool-name", "get_cluster"),
        *("--tool-arg", f"id={cluster['id']}"),
    )
    assert (
        called["structuredContent"] == admin.get(f"/api/minikube-clusters/{cluster['id']}").json()
    )


async def test_slipway_mcp_bridges_stdio_to_the_gateway(stack: Stack, admin, viewer, cluster):
    slipway = Path(sys.executable).parent / "slipway"
    env = {**os.environ, "SLIPWAY_URL": stack.base_url, "SLIPWAY_TOKEN": viewer}
    server = StdioServerParameters(command=str(slipway), args=["mcp"], env=env)
    async with Client(server, client_info=CLIENT) as client:
        assert {tool.name for tool in (await client.list_tools()).tools} == READ_TOOLS
        got = structured(await client.call_tool("get_cluster", {"id": cluster["id"]}))
        assert got == admin.get(f"/api/minikube-clusters/{cluster['id']}").json()
        templates = (await client.list_resource_templates()).resource_templates
        assert "slipway://deployments/{id}" in {t.uri_template for t in templates}
        prompt = await client.get_prompt("diagnose-deployment", {"deployment_id": "d-1"})
        assert "d-1" in getattr(prompt.messages[0].content, "text", "")
