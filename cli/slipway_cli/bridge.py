"""`slipway mcp`: Slipway's MCP server on stdin/stdout, for desktop clients that start a
command (Claude Desktop, an IDE, Docker's MCP Toolkit).

It is a bridge, not a second server: every request (tools, resources, prompts) goes on to
the gateway's `/mcp` over streamable HTTP with the CLI's URL and token, so the gateway alone
decides what the token may see and do, and audits every call."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import anyio
import httpx2
import mcp_types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from slipway_cli.client import CliError, Config

Context = ServerRequestContext[Any, Any]


def bridge(upstream: Client) -> Server[Any]:
    """A server whose every handler asks `upstream` (the gateway) and answers its reply."""

    async def list_tools(
        ctx: Context, params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListToolsResult:
        return await upstream.list_tools(cursor=params.cursor if params else None)

    async def call_tool(
        ctx: Context, params: mcp_types.CallToolRequestParams
    ) -> mcp_types.CallToolResult:
        return await upstream.call_tool(params.name, params.arguments)

    async def list_resources(
        ctx: Context, params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListResourcesResult:
        return await upstream.list_resources(cursor=params.cursor if params else None)

    async def list_resource_templates(
        ctx: Context, params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListResourceTemplatesResult:
        return await upstream.list_resource_templates(cursor=params.cursor if params else None)

    async def read_resource(
        ctx: Context, params: mcp_types.ReadResourceRequestParams
    ) -> mcp_types.ReadResourceResult:
        return await upstream.read_resource(params.uri)

    async def list_prompts(
        ctx: Context, params: mcp_types.PaginatedRequestParams | None
    ) -> mcp_types.ListPromptsResult:
        return await upstream.list_prompts(cursor=params.cursor if params else None)

    async def get_prompt(
        ctx: Context, params: mcp_types.GetPromptRequestParams
    ) -> mcp_types.GetPromptResult:
        return await upstream.get_prompt(params.name, params.arguments)

    info = upstream.server_info
    return Server(
        info.name if info else "slipway",
        version=info.version if info else "",
        title="Slipway",
        instructions=upstream.instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
    )


async def serve(config: Config) -> None:
    """Connect to the gateway's `/mcp`, then serve stdio until stdin closes."""
    if not config.token:
        raise CliError("slipway mcp needs an API token: --token or SLIPWAY_TOKEN")
    headers = {"Authorization": f"Bearer {config.token}", "User-Agent": "slipway-cli mcp"}
    client_info = mcp_types.Implementation(
        name="slipway-mcp", version=metadata.version("slipway-cli")
    )
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300))
    transport = streamable_http_client(f"{config.url}/mcp", http_client=http)
    # No client-side cache: the gateway answers every list for the token as it is now.
    async with http, Client(transport, client_info=client_info, cache=None) as upstream:
        server = bridge(upstream)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def run(config: Config) -> None:
    """`slipway mcp`'s body: serve; a gateway that cannot be reached, or that refuses the
    token, is a CLI error."""
    try:
        anyio.run(serve, config)
    except* (httpx2.HTTPError, MCPError) as group:
        first = group.exceptions[0]
        raise CliError(f"Slipway's MCP server at {config.url}/mcp: {first}") from None
