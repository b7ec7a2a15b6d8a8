"""The MCP server's tools, made once from the REST resources' declared operations.

Each entity's `ResourceRoutes` declares what it offers (`list`, `get`, `create`, an action
such as `scale`, `delete`); a tool is one of those, named for what an agent does with it
(`list_deployments`, `get_deployment`, `deploy_image`, `scale_deployment`, ...). Its input
schema is the contract's model of the query or command (`ListEntities`, `GetEntity`,
`ScaleDeployment`, ...), the same model that validates its arguments, and what it sends is
what the REST route sends: the same subject, the same payload.

The advisors (`entrypoints.advice.ADVISORS`) are tools too, read-only, each named as its
declaration names it (`advise_dockerfile`, `diagnose_deployment`, ...); a call asks as the
REST route asks (`Advisor.advise`), with the language model's explanation when one is set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import mcp_types
from pydantic import BaseModel, create_model

from slipway_contracts import subjects
from slipway_contracts.common import Model
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_gateway.access.rules import ADVICE, ApiPath
from slipway_gateway.entrypoints import charts, clusters, deployments, images, releases, services
from slipway_gateway.entrypoints.advice import ADVISORS, Advisor
from slipway_gateway.entrypoints.resources import Declared, Resource, ResourceRoutes, Sender

# Every entity the API serves, in the order the tools are listed.
ENTITY_ROUTES: tuple[ResourceRoutes, ...] = (
    images.routes,
    charts.routes,
    clusters.routes,
    deployments.routes,
    services.routes,
    releases.routes,
)

# A tool is `<action>_<noun>` unless it reads better as what an agent means by it: a
# create names what it starts from (`deploy_image` makes a Deployment of an image).
NAMES: dict[tuple[str, str], str] = {
    ("image", "create"): "build_image",
    ("image", "update"): "rebuild_image",
    ("chart", "create"): "validate_chart",
    ("chart", "validate"): "revalidate_chart",
    ("deployment", "create"): "deploy_image",
    ("service", "create"): "expose_deployment",
    ("release", "create"): "install_chart",
    ("release", "update"): "upgrade_release",
    ("release", "delete"): "uninstall_release",
}
# Changes that, repeated with the same arguments, leave things as the first one did.
# Operations that are the resource's own methods, not an action sub-path (`/scale`).
PLAIN = frozenset({"list", "get", "create", "update", "delete"})
IDEMPOTENT = frozenset({"update", "delete", "scale", "start", "stop", "verify", "repair"})


@dataclass(frozen=True)
class Tool:
    """One tool: a query or a command of one entity, and the model of its arguments."""

    name: str
    resource: Resource
    action: str
    arguments: type[BaseModel]  # validates the arguments; its JSON schema is the inputSchema
    description: str
    read_only: bool
    send: Sender | None = None  # how its command goes out, when not as a plain request
    advisor: Advisor | None = None  # the advisor it asks (its resource: what that is about)

    @property
    def destructive(self) -> bool:
        return self.action == "delete"

    @property
    def idempotent(self) -> bool:
        return self.read_only or self.action in IDEMPOTENT

    @property
    def names_entity(self) -> bool:
        """Whether its arguments name one existing entity (`id`)."""
        return "id" in self.arguments.model_fields

    @property
    def subject(self) -> str:
        """The NATS subject it requests, as the REST route does."""
        if self.advisor is not None:
            return self.advisor.subject
        if self.read_only:
            return subjects.query(self.resource.entity, self.action)
        return subjects.command(self.resource.entity, self.action)

    def api_path(self, entity_id: str | None) -> ApiPath:
        """The REST call it stands for (its role and audit entry are that call's; an
        advisor's is under `/api/advice`, named by the advisor)."""
        if self.advisor is not None:
            return ApiPath(ADVICE, entity_id, self.advisor.name)
        subresource = None if self.action in PLAIN else self.action
        return ApiPath(self.resource.segment, entity_id, subresource)

    def spec(self) -> mcp_types.Tool:
        """The tool as `tools/list` answers it."""
        return mcp_types.Tool(
            name=self.name,
            title=self.name.replace("_", " ").capitalize(),
            description=self.description,
            input_schema=self.arguments.model_json_schema(),
            annotations=mcp_types.ToolAnnotations(
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                open_world_hint=False,
            ),
        )


def list_arguments(resource: Resource) -> type[BaseModel]:
    """`ListEntities` with the status filter narrowed to the entity's statuses."""
    statuses: Any = resource.statuses
    model: type[BaseModel] = create_model(
        f"List{resource.model.__name__}s",
        __base__=ListEntities,
        __doc__=f"One page of {resource.tag}, oldest first; pass `next_cursor` back as `cursor`.",
        status=(statuses | None, None),
    )
    return model


def tool_of(resource: Resource, declared: Declared) -> Tool | None:
    """The tool of one declared operation (None: the contract has no model for it)."""
    action = declared.action
    arguments: type[BaseModel] | None
    if action == "list":
        arguments = list_arguments(resource)
    elif action == "get":
        arguments = GetEntity
    else:
        arguments = resource.commands.get(action)
    if arguments is None:
        return None
    name = NAMES.get((resource.noun, action)) or default_name(resource, action)
    description = declared.description or (arguments.__doc__ or name).strip()
    return Tool(name, resource, action, arguments, description, not declared.command, declared.send)


def default_name(resource: Resource, action: str) -> str:
    return f"list_{resource.noun}s" if action == "list" else f"{action}_{resource.noun}"


def advisor_tool(advisor: Advisor) -> Tool:
    """The read-only tool of one advisor."""
    return Tool(
        advisor.name,
        advisor.about,
        advisor.name,
        advisor.arguments,
        advisor.description,
        read_only=True,
        advisor=advisor,
    )


def catalogue(
    routes: Iterable[ResourceRoutes] = ENTITY_ROUTES, advisors: Iterable[Advisor] = ADVISORS
) -> dict[str, Tool]:
    """Every tool, by name: reads first (the entities', then the advisors'), then changes,
    entity by entity."""
    tools = [
        tool
        for entity in routes
        for declared in entity.declared
        if (tool := tool_of(entity.resource, declared)) is not None
    ]
    tools += [advisor_tool(advisor) for advisor in advisors]
    tools.sort(key=lambda tool: not tool.read_only)
    return {tool.name: tool for tool in tools}


def validated(tool: Tool, arguments: dict[str, Any] | None) -> Model | BaseModel:
    """The arguments as the tool's model (pydantic's ValidationError when they break it)."""
    return tool.arguments.model_validate(arguments or {})
