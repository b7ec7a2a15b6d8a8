"""The MCP server's resources: each entity by URI (`slipway://deployments/{id}`), each
kind's first page (`slipway://deployments`), an image's build log
(`slipway://container-images/{id}/logs`, operator only, as over REST) and the events of
the last hour (`slipway://events/recent`). Each is read with the same query REST makes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import mcp_types

from slipway_gateway.access.identity import Principal
from slipway_gateway.access.rules import ApiPath, check_role, mcp_role
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.adapters.event_stream import Cursor, EventFilter, EventReader
from slipway_gateway.entrypoints.images import IMAGES
from slipway_gateway.entrypoints.resources import Resource
from slipway_gateway.mcp.tools import ENTITY_ROUTES
from slipway_libs.errors import NotFound, Unavailable

SCHEME = "slipway://"
JSON = "application/json"
EVENTS_URI = f"{SCHEME}events/recent"
RECENT = timedelta(hours=1)
RECENT_EVENTS = 100
LOGS = "logs"

RESOURCES: dict[str, Resource] = {
    routes.resource.segment: routes.resource for routes in ENTITY_ROUTES
}


@dataclass(frozen=True)
class Address:
    """A resource URI taken apart: `slipway://<segment>[/<id>[/logs]]`."""

    segment: str
    entity_id: str | None = None
    subresource: str | None = None

    @classmethod
    def parse(cls, uri: str) -> Address:
        if not uri.startswith(SCHEME):
            raise NotFound(f"no resource {uri}: Slipway's resources are {SCHEME}...")
        parts = [part for part in uri.removeprefix(SCHEME).split("/") if part]
        if not parts or len(parts) > 3:
            raise NotFound(f"no resource {uri}")
        return cls(parts[0], *parts[1:])


def listed() -> list[mcp_types.Resource]:
    """The fixed resources: each kind's first page, and the recent events."""
    pages = [
        mcp_types.Resource(
            uri=f"{SCHEME}{segment}",
            name=segment,
            description=f"The first page of {res.tag}, oldest first (as GET {res.path}).",
            mime_type=JSON,
        )
        for segment, res in RESOURCES.items()
    ]
    events = mcp_types.Resource(
        uri=EVENTS_URI,
        name="recent-events",
        description="The CloudEvents of the last hour (at most 100, newest last).",
        mime_type=JSON,
    )
    return [*pages, events]


def templates() -> list[mcp_types.ResourceTemplate]:
    """One entity by id, for each kind; an image's build log."""
    entities = [
        mcp_types.ResourceTemplate(
            uri_template=f"{SCHEME}{segment}/{{id}}",
            name=res.noun,
            description=f"One {res.noun} by id (as GET {res.path}/{{id}}).",
            mime_type=JSON,
        )
        for segment, res in RESOURCES.items()
    ]
    logs = mcp_types.ResourceTemplate(
        uri_template=f"{SCHEME}{IMAGES.segment}/{{id}}/{LOGS}",
        name="build-log",
        description="The log of an image's latest build (operator role, as over REST).",
        mime_type="text/plain",
    )
    return [*entities, logs]


async def read(uri: str, principal: Principal, bus: CommandBus) -> mcp_types.TextResourceContents:
    """The resource's content, read as REST reads it; NotFound or Forbidden otherwise."""
    if uri == EVENTS_URI:
        check_role(principal, mcp_role(True, ApiPath("events")))
        return text(uri, json.dumps(await recent_events(bus)), JSON)
    address = Address.parse(uri)
    res = RESOURCES.get(address.segment)
    if res is None or (address.subresource not in (None, LOGS)):
        raise NotFound(f"no resource {uri}")
    path = ApiPath(address.segment, address.entity_id, address.subresource)
    check_role(principal, mcp_role(True, path))
    if address.entity_id is None:
        page = await res.query(bus, "list", {"status": None, "cursor": None, "limit": 50})
        return text(uri, json.dumps(page), JSON)
    if address.subresource is None:
        entity = await res.query(bus, "get", {"id": address.entity_id})
        return text(uri, json.dumps(entity), JSON)
    if res is not IMAGES:
        raise NotFound(f"no resource {uri}: only images have a build log")
    log = await res.query(bus, "logs", {"id": address.entity_id, "from_line": 0})
    return text(uri, "\n".join(log["lines"]), "text/plain")


def text(uri: str, content: str, mime_type: str) -> mcp_types.TextResourceContents:
    return mcp_types.TextResourceContents(uri=uri, text=content, mime_type=mime_type)


async def recent_events(bus: CommandBus) -> list[dict[str, Any]]:
    """The CloudEvents of the last hour, oldest first (the newest `RECENT_EVENTS`)."""
    if bus.nc is None or not bus.nc.is_connected:
        raise Unavailable("NATS is not connected")
    reader = EventReader(bus.nc, EventFilter())
    events: list[dict[str, Any]] = []
    try:
        await reader.open(Cursor(since=datetime.now(UTC) - RECENT))
        while not reader.caught_up:
            batch = await reader.next_batch(0.5)
            events = (events + [stored.event for stored in batch])[-RECENT_EVENTS:]
            if not batch:
                break
    finally:
        await reader.close()
    return events
