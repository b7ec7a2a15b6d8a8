"""The answers to `get` and `list` queries, the same for Deployments and Kubernetes
Services: snapshots, read outside any transaction."""

from __future__ import annotations

from typing import Any

from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs.unit_of_work import Repository, ok, page_of


async def entity_reply(repository: Repository[Any], query: GetEntity) -> dict[str, Any]:
    """The entity's snapshot (NotFound naming it when there is none)."""
    return ok((await repository.get(query.id)).snapshot())


async def page_reply(repository: Repository[Any], query: ListEntities) -> dict[str, Any]:
    """One page of snapshots, oldest first, optionally of one status, and the next cursor."""
    items, next_cursor = await repository.listing(
        status=query.status, cursor=query.cursor, limit=query.limit
    )
    return ok(page_of(items, next_cursor))
