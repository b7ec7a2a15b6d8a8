"""The MCP server, wired to the official `mcp` SDK: its low-level `Server` with Slipway's
handlers, served over streamable HTTP at `/mcp` on the gateway.

The gateway's `Authorization` middleware admits each HTTP request to `/mcp` (a valid token,
at least `viewer`; 401 with `WWW-Authenticate: Bearer` otherwise) and leaves the principal
in the request's state; every handler here reads it from the request carrying the message,
so a tool list or a call is always the current token's, never a flag the client sent.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import mcp_types
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from slipway_gateway.access.identity import ANONYMOUS, Principal
from slipway_gateway.mcp import prompts, resources
from slipway_gateway.mcp.calls import Caller, Outcome, ToolCalls
from slipway_gateway.mcp.tools import Tool, catalogue
from slipway_libs.errors import InvalidInput, NotFound, SlipwayError

NAME = "slipway"
VERSION = "0.1.0"
INSTRUCTIONS = """Slipway is a control plane for local Kubernetes delivery: container images,
Helm charts, clusters, deployments, services and releases. Read with the list_* and get_*
tools or the slipway:// resources. Ask the advisors before changing anything (they only
read): advise_dockerfile, advise_build, diagnose_deployment, recommend_resources and
cluster_health. A change tool may answer with an approval id instead of acting: a human
must approve it (POST /api/approvals/{id}/approve) before anything changes."""

TOOLS: dict[str, Tool] = catalogue()


def request_of(ctx: ServerRequestContext[Any, Any]) -> Request:
    """The HTTP request carrying this message (the gateway serves MCP over HTTP only)."""
    request = ctx.request
    if not isinstance(request, Request):
        raise MCPError(INTERNAL_ERROR, "no HTTP request carries this message")
    return request


def principal_of(request: Request) -> Principal:
    principal: Principal = request.scope.get("state", {}).get("principal") or ANONYMOUS
    return principal


def caller_of(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = request_of(ctx)
    info = ctx.session.client_params.client_info if ctx.session.client_params else None
    client = f"{info.name} {info.version}".strip() if info else None
    return Caller(
        principal=principal_of(request),
        client=client,
        source_ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def tool_calls(request: Request) -> ToolCalls:
    """The calls of this gateway: its bus, audit log, mode, approval desk and language
    model."""
    state = request.app.state
    return ToolCalls(
        TOOLS,
        state.bus,
        state.audit_log,
        state.settings.mcp_mode,
        getattr(state, "approvals", None),
        state.language_model,
    )


def tool_result(outcome: Outcome) -> mcp_types.CallToolResult:
    """The answer as JSON text and structured content, or the refusal as a tool error."""
    if outcome.error is not None:
        error = outcome.error
        message = f"{error.code}: {error.message}"
        return mcp_types.CallToolResult(
            content=[mcp_types.TextContent(text=message)],
            structured_content={"error": error.to_reply()["error"]},
            is_error=True,
        )
    data = outcome.data if isinstance(outcome.data, dict) else {"result": outcome.data}
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(text=json.dumps(data))], structured_content=data
    )


def protocol_error(exc: SlipwayError) -> MCPError:
    code = INVALID_PARAMS if isinstance(exc, InvalidInput | NotFound) else INTERNAL_ERROR
    return MCPError(code, f"{exc.code}: {exc.message}")


async def list_tools(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
) -> mcp_types.ListToolsResult:
    request = request_of(ctx)
    listed = tool_calls(request).listed(principal_of(request))
    return mcp_types.ListToolsResult(tools=[tool.spec() for tool in listed])


async def call_tool(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
) -> mcp_types.CallToolResult:
    calls = tool_calls(request_of(ctx))
    return tool_result(await calls.call(params.name, params.arguments, caller_of(ctx)))


async def list_resources(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
) -> mcp_types.ListResourcesResult:
    return mcp_types.ListResourcesResult(resources=resources.listed())


async def list_resource_templates(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
) -> mcp_types.ListResourceTemplatesResult:
    return mcp_types.ListResourceTemplatesResult(resource_templates=resources.templates())


async def read_resource(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.ReadResourceRequestParams
) -> mcp_types.ReadResourceResult:
    request = request_of(ctx)
    try:
        content = await resources.read(params.uri, principal_of(request), request.app.state.bus)
    except SlipwayError as exc:
        raise protocol_error(exc) from None
    return mcp_types.ReadResourceResult(contents=[content])


async def list_prompts(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.PaginatedRequestParams | None
) -> mcp_types.ListPromptsResult:
    return mcp_types.ListPromptsResult(prompts=[p.spec() for p in prompts.PROMPTS.values()])


async def get_prompt(
    ctx: ServerRequestContext[Any, Any], params: mcp_types.GetPromptRequestParams
) -> mcp_types.GetPromptResult:
    try:
        return prompts.get(params.name, params.arguments)
    except SlipwayError as exc:
        raise protocol_error(exc) from None


def make_server() -> Server[Any]:
    """Slipway's MCP server: the SDK's low-level server with the handlers above."""
    return Server(
        NAME,
        version=VERSION,
        title="Slipway",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


class McpEndpoint:
    """The ASGI app at `/mcp`: the SDK's streamable HTTP session manager, run by the
    gateway's lifespan (`running`)."""

    def __init__(self) -> None:
        self.manager = StreamableHTTPSessionManager(app=make_server())

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)
