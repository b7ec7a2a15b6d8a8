"""The MCP server's prompts: how an agent should go about a diagnosis, a Dockerfile review,
or a cluster's health check with Slipway's tools and resources."""

from __future__ import annotations

from dataclasses import dataclass

import mcp_types

from slipway_libs.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class PromptText:
    """A prompt: its one argument and the text it expands to (`{argument}` filled in)."""

    name: str
    description: str
    argument: str
    argument_description: str
    text: str

    def spec(self) -> mcp_types.Prompt:
        return mcp_types.Prompt(
            name=self.name,
            description=self.description,
            arguments=[
                mcp_types.PromptArgument(
                    name=self.argument, description=self.argument_description, required=True
                )
            ],
        )

    def render(self, arguments: dict[str, str] | None) -> mcp_types.GetPromptResult:
        value = (arguments or {}).get(self.argument, "").strip()
        if not value:
            raise InvalidInput.field(self.argument, "is required")
        message = mcp_types.PromptMessage(
            role="user",
            content=mcp_types.TextContent(text=self.text.format(**{self.argument: value})),
        )
        return mcp_types.GetPromptResult(description=self.description, messages=[message])


PROMPTS: dict[str, PromptText] = {
    prompt.name: prompt
    for prompt in (
        PromptText(
            name="diagnose-deployment",
            description="Find out why a Slipway deployment is not running as it should.",
            argument="deployment_id",
            argument_description="the deployment's id",
            text=(
                "Diagnose Slipway deployment {deployment_id}. Read it with get_deployment "
                "(or the resource slipway://deployments/{deployment_id}): its status, reason, "
                "replicas and available_replicas. Read its image with get_image and its "
                "cluster with get_cluster: is the image built, is the cluster running? Read "
                "slipway://events/recent for the deployment's and its image's latest events. "
                "Then name the cause, the evidence for it, and the one change that fixes it "
                "(a tool call such as scale_deployment or rebuild_image); change nothing "
                "before saying so."
            ),
        ),
        PromptText(
            name="optimise-dockerfile",
            description="Review a build context's Dockerfile for size, caching and safety.",
            argument="context",
            argument_description="the build context directory (inside the build roots)",
            text=(
                "Review the Dockerfile of the build context {context}. Look for: a multi-stage "
                "build, a non-root USER, base images pinned by digest, a .dockerignore, layers "
                "ordered so that dependencies are cached before the source, no secrets in ARG "
                "or ENV. Propose a Dockerfile that fixes what you find; build it with "
                "build_image (context {context}) and compare its size with list_images."
            ),
        ),
        PromptText(
            name="cluster-health",
            description="Summarise the health of a cluster and of everything on it.",
            argument="cluster_id",
            argument_description="the cluster's id",
            text=(
                "Summarise the health of Slipway cluster {cluster_id}. Read it with "
                "get_cluster; list its deployments (list_deployments), services "
                "(list_services) and releases (list_releases) and keep those with cluster_id "
                "{cluster_id}. For each, say whether it is healthy (running, active, deployed) "
                "and, if not, its reason. End with what to look at first."
            ),
        ),
    )
}


def get(name: str, arguments: dict[str, str] | None) -> mcp_types.GetPromptResult:
    prompt = PROMPTS.get(name)
    if prompt is None:
        raise NotFound(f"no prompt named '{name}'")
    return prompt.render(arguments)
