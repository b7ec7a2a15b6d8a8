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
                "Diagnose Slipway deployment {deployment_id}. Start with diagnose_deployment "
                "(id {deployment_id}): its diagnoses, worst first, each with evidence, the fix "
                "and a command; `healthy` when nothing is wrong. If a diagnosis points at the "
                "image, ask advise_build about the deployment's image (get_deployment names "
                "it); if the pods are short of memory or CPU, ask recommend_resources (id "
                "{deployment_id}). Read slipway://events/recent for the latest events. Then "
                "name the cause, the evidence for it, and the one change that fixes it (a "
                "tool call such as scale_deployment or rebuild_image); change nothing before "
                "saying so."
            ),
        ),
        PromptText(
            name="optimise-dockerfile",
            description="Review a build context's Dockerfile for size, caching and safety.",
            argument="context",
            argument_description="the build context directory (inside the build roots)",
            text=(
                "Review the Dockerfile of the build context {context}. Call advise_dockerfile "
                "(context {context}): its findings (hadolint's and Slipway's rules: multi-stage "
                "build, non-root USER, base images pinned by digest, .dockerignore, layers "
                "ordered for the cache, no secrets in ARG or ENV), each with its line and fix, "
                "and a proposed Dockerfile (and .dockerignore) with what could be fixed fixed. "
                "Explain the findings that matter most, then offer the proposal; build it with "
                "build_image (context {context}) only when asked, and compare its size with "
                "list_images. If a build fails, advise_build (the image's id) says why."
            ),
        ),
        PromptText(
            name="cluster-health",
            description="Summarise the health of a cluster and of everything on it.",
            argument="cluster_id",
            argument_description="the cluster's id",
            text=(
                "Summarise the health of Slipway cluster {cluster_id}. Call cluster_health "
                "(id {cluster_id}): the cluster's status, counts of its deployments, services "
                "and releases, and its problems, worst first. For each deployment with a "
                "problem, diagnose_deployment (its id) says why and how to fix it; "
                "recommend_resources (its id) whether its requests, limits and replicas fit. "
                "End with what to look at first."
            ),
        ),
    )
}


def get(name: str, arguments: dict[str, str] | None) -> mcp_types.GetPromptResult:
    prompt = PROMPTS.get(name)
    if prompt is None:
        raise NotFound(f"no prompt named '{name}'")
    return prompt.render(arguments)
