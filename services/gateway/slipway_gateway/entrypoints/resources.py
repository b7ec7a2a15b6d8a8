"""The REST shape every entity shares, written once.

An entity's routes are requests to its owning service: list and get are queries
(`slipway.<entity>.query.list|get`), create, replace, delete and actions are commands
(`slipway.<entity>.cmd.<action>`). `ResourceRoutes` registers them on one router:

    DEPLOYMENTS = Resource(subjects.DEPLOYMENT, "/api/deployments", Deployment,
                           DeploymentStatus, noun="deployment", tag="deployments")
    routes = ResourceRoutes(DEPLOYMENTS)
    routes.add_create(DeploymentSpec, "Roll out a Deployment (202).")
    routes.add_list()
    routes.add_get()
    routes.add_replace(DeploymentSpec, "Replace the spec and roll it out again (202).")
    routes.add_delete("Remove the Deployment from its cluster, then the record.")
    routes.add_action("scale", "Change the replica count (202).", body=Scale)
    router = routes.router

Variants, all optional: `status=` a fixed code or a `StatusRule`; `add_delete(options=)`
a model of query parameters the delete command also takes; `add_action(if_match=False)`
for a command that runs on any revision (it takes none), `location=False` for one that
answers the entity as it is, like a read.

Each route is also kept as a `Declared` operation (`routes.declared`): the MCP server's tools
are made from them. A route written out by hand (a chart's upload) declares itself with
`routes.declare`.

Routes an entity has alone (a kubeconfig, build logs) go on `router` next to these,
using `Resource.query`/`Resource.command` to reach the service. Every route on `router`
needs a token (`access.rules` says which role) and holds a scoped token to its namespaces
(`authorization.NamespaceScope`).
"""

# No `from __future__ import annotations`: the route functions below are built per entity
# and FastAPI reads their parameter types (the entity's models) from live annotations.

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, create_model

from slipway_contracts import subjects
from slipway_contracts.common import Model
from slipway_contracts.queries import Page
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.entrypoints.authorization import NamespaceScope
from slipway_gateway.entrypoints.http import (
    AUTHENTICATED,
    Bus,
    CommandId,
    DocumentedRoute,
    IfMatch,
    PrefixRouter,
    entity_response,
    no_content,
)


@dataclass(frozen=True)
class StatusRule:
    """How a create or replace answers when one status does not fit every request:
    `choose(body, entity)` picks one of `possible` (the first is the documented default),
    e.g. 202 only when the change queued long-running work. `others` describes the other
    codes in the OpenAPI document; None leaves their HTTP reason phrase ("Accepted")."""

    choose: Callable[[Any, dict[str, Any]], int]
    possible: tuple[int, ...]
    others: str | None = "See the description"


# Fields of a command that the REST request carries outside its body.
OUT_OF_BODY = frozenset({"id", "expected_revision"})


@dataclass(frozen=True)
class Resource:
    """One entity as a REST resource: its path, its NATS subjects and its models."""

    entity: str  # the subjects' entity name, e.g. `deployment`
    path: str  # e.g. `/api/deployments`
    model: type[BaseModel]  # the entity, as answered
    statuses: type[StrEnum]  # the list filter's values
    noun: str  # names the routes (`get_<noun>`) and their path parameter (`<noun>_id`)
    tag: str  # the OpenAPI tag
    # The contract's command models by action (`DEPLOYMENT_COMMANDS`): what each command carries.
    commands: Mapping[str, type[Model]] = field(default_factory=dict)

    @property
    def id_param(self) -> str:
        return f"{self.noun}_id"

    @property
    def namespaced(self) -> bool:
        """Whether the entity lives in a namespace (a scoped token's rule holds for it)."""
        return "namespace" in self.model.model_fields

    @property
    def segment(self) -> str:
        """The path's resource segment, e.g. `deployments` (as `access.rules.ApiPath` has it)."""
        return self.path.removeprefix("/api/")

    def location(self, entity_id: str) -> str:
        return f"{self.path}/{entity_id}"

    async def command(
        self, bus: CommandBus, action: str, payload: dict[str, Any] | bytes, command_id: str
    ) -> Any:
        return await bus.request(subjects.command(self.entity, action), payload, command_id)

    async def query(self, bus: CommandBus, name: str, payload: dict[str, Any]) -> Any:
        return await bus.request(subjects.query(self.entity, name), payload)


def request_body(command: type[Model], name: str, doc: str | None = None) -> type[Model]:
    """The REST body of a command: its fields less the id (the path names it) and the
    expected revision (If-Match carries it), with the command's own constraints."""
    fields: dict[str, Any] = {
        field_name: (field.annotation, field)
        for field_name, field in command.model_fields.items()
        if field_name not in OUT_OF_BODY
    }
    body: type[Model] = create_model(name, __base__=Model, __doc__=doc, **fields)
    return body


def _fields(body: BaseModel | None) -> dict[str, Any]:
    return body.model_dump(mode="json") if body is not None else {}


async def _absent() -> None:
    """Stands in for a request part a route does not take (no body, no If-Match)."""
    return None


# A route parameter that is always None and adds nothing to the request or its schema.
Absent = Annotated[None, Depends(_absent)]


def _status(status: int | StatusRule, body: Any, entity: dict[str, Any]) -> int:
    return status if isinstance(status, int) else status.choose(body, entity)


def _documented(status: int | StatusRule, model: type[BaseModel]) -> dict[str, Any]:
    """The route's documented status code and, for a rule, the others it may answer."""
    if isinstance(status, int):
        return {"status_code": status}
    described = {"description": status.others} if status.others else {}
    others = {code: {"model": model, **described} for code in status.possible[1:]}
    return {"status_code": status.possible[0], "responses": others}


# How a command goes out when the plain request will not do (a chart checks its size first):
# `send(bus, action, payload, command_id)` answers the reply's data.
Sender = Callable[[CommandBus, str, dict[str, Any], str], Awaitable[Any]]


@dataclass(frozen=True)
class Declared:
    """One operation a resource offers over REST: a query (`list`, `get`) or a command
    (`create`, `update`, `delete` or an action such as `scale`), what it does, and how it
    is sent when not as a plain request (`send`)."""

    action: str
    command: bool
    description: str | None = None
    send: Sender | None = None


class ResourceRoutes:
    """Registers a resource's list, get, create, replace, delete and action routes."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.declared: list[Declared] = []
        self.router = PrefixRouter(
            prefix=resource.path,
            tags=[resource.tag],
            route_class=DocumentedRoute,
            dependencies=[AUTHENTICATED, Depends(NamespaceScope(resource))],
        )

    @property
    def _item(self) -> str:
        return "/{" + self.resource.id_param + "}"

    def _entity_id(self) -> Any:
        """The annotation of the path parameter naming the entity."""
        return Annotated[str, Path(alias=self.resource.id_param)]

    def declare(
        self,
        action: str,
        description: str | None,
        *,
        command: bool = True,
        send: Sender | None = None,
    ) -> None:
        """Keep an operation of this resource (the routes below declare theirs)."""
        self.declared.append(Declared(action, command, description, send))

    def _add(
        self,
        method: str,
        path: str,
        endpoint: Callable[..., Any],
        name: str,
        description: str | None,
        status: int | StatusRule = 200,
        response_model: Any = None,
    ) -> None:
        self.router.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=name,
            description=description,
            response_model=response_model,
            **_documented(status, self.resource.model),
        )

    def add_list(self, description: str | None = None) -> None:
        """`GET <path>?status=&cursor=&limit=` → `{"items", "next_cursor"}`, oldest first."""
        res = self.resource

        async def list_entities(
            bus: Bus,
            status: res.statuses | None = None,  # type: ignore[name-defined]
            cursor: str | None = None,
            limit: Annotated[int, Query(ge=1, le=500)] = 50,
        ) -> JSONResponse:
            page = await res.query(
                bus, "list", {"status": status, "cursor": cursor, "limit": limit}
            )
            return JSONResponse(page)

        default = (
            f"{res.tag.capitalize()} oldest first; pass `next_cursor` back as `cursor` "
            "for the next page."
        )
        self.declare("list", description or default, command=False)
        self._add(
            "GET",
            "",
            list_entities,
            f"list_{res.noun}s",
            description or default,
            response_model=Page,
        )

    def add_get(self) -> None:
        """`GET <path>/{id}` → the entity with its ETag."""
        res = self.resource

        async def get_entity(
            entity_id: self._entity_id(),  # type: ignore[valid-type]
            bus: Bus,
        ) -> JSONResponse:
            return entity_response(await res.query(bus, "get", {"id": entity_id}))

        self.declare("get", f"One {res.noun} by id, as it is now.", command=False)
        self._add("GET", self._item, get_entity, f"get_{res.noun}", None, response_model=res.model)

    def add_create(
        self, spec: type[BaseModel], description: str, status: int | StatusRule = 202
    ) -> None:
        """`POST <path>` (Idempotency-Key) → the entity, its ETag and Location."""
        res = self.resource

        async def create_entity(
            body: spec,  # type: ignore[valid-type]
            bus: Bus,
            command_id: CommandId,
        ) -> JSONResponse:
            # The body goes on as JSON straight from the model (serialised once).
            payload = body.model_dump_json().encode()  # type: ignore[attr-defined]
            entity = await res.command(bus, "create", payload, command_id)
            return entity_response(
                entity, _status(status, body, entity), res.location(entity["id"])
            )

        self.declare("create", description)
        self._add("POST", "", create_entity, f"create_{res.noun}", description, status, res.model)

    def add_replace(
        self, spec: type[BaseModel], description: str, status: int | StatusRule = 202
    ) -> None:
        """`PUT <path>/{id}` (If-Match, Idempotency-Key) → the entity, its ETag and Location."""
        name = f"replace_{self.resource.noun}"
        self._add_entity_command("PUT", "", "update", name, description, spec, status)

    def add_action(
        self,
        action: str,
        description: str,
        body: type[BaseModel] | None = None,
        status: int | StatusRule = 202,
        *,
        if_match: bool = True,
        location: bool = True,
    ) -> None:
        """`POST <path>/{id}/<action>` (If-Match, Idempotency-Key) → the entity, its ETag
        and Location. `body`'s fields, when given, join the command's id and revision.
        `if_match=False`: the command takes no revision and the route no If-Match;
        `location=False`: the answer has no Location."""
        name = f"{action}_{self.resource.noun}"
        self._add_entity_command(
            "POST", f"/{action}", action, name, description, body, status, if_match, location
        )

    def add_delete(
        self, description: str | None = None, options: type[BaseModel] | None = None
    ) -> None:
        """`DELETE <path>/{id}` (If-Match, Idempotency-Key) → 204 once the service agreed.
        `options`' fields, when given, are query parameters the command also carries."""
        res = self.resource
        query = Annotated[options, Query()] if options else Absent

        async def delete_entity(
            entity_id: self._entity_id(),  # type: ignore[valid-type]
            bus: Bus,
            command_id: CommandId,
            revision: IfMatch,
            given: query,  # type: ignore[valid-type]
        ) -> Response:
            payload = {"id": entity_id, "expected_revision": revision, **_fields(given)}
            await res.command(bus, "delete", payload, command_id)
            return no_content()

        self.declare("delete", description or f"Delete the {res.noun}.")
        self._add("DELETE", self._item, delete_entity, f"delete_{res.noun}", description, 204)

    def add_accepted_delete(self, description: str) -> None:
        """`DELETE <path>/{id}` (If-Match, Idempotency-Key) for removal that takes a while
        (an uninstall): 202 with the entity as it is while the work runs."""
        name = f"delete_{self.resource.noun}"
        self._add_entity_command("DELETE", "", "delete", name, description, None, 202)

    def _add_entity_command(
        self,
        method: str,
        suffix: str,
        action: str,
        name: str,
        description: str,
        body: type[BaseModel] | None,
        status: int | StatusRule,
        if_match: bool = True,
        location: bool = True,
    ) -> None:
        """A command about one entity: the body's fields (if any), the id from the path and
        the revision from If-Match; it answers the entity, its ETag and Location."""
        res = self.resource
        self.declare(action, description)
        # FastAPI reads the body's model and the headers from the parameters' annotations.
        fields_type = body if body is not None else Absent
        revision_type = IfMatch if if_match else Absent

        async def route(
            entity_id: self._entity_id(),  # type: ignore[valid-type]
            fields: fields_type,  # type: ignore[valid-type]
            bus: Bus,
            command_id: CommandId,
            revision: revision_type,  # type: ignore[valid-type]
        ) -> JSONResponse:
            payload = {**_fields(fields), "id": entity_id}
            if if_match:
                payload["expected_revision"] = revision
            entity = await res.command(bus, action, payload, command_id)
            return entity_response(
                entity,
                _status(status, fields, entity),
                res.location(entity_id) if location else None,
            )

        self._add(method, self._item + suffix, route, name, description, status, res.model)
