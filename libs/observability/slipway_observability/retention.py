"""Retention of kept logs: a MongoDB TTL index that removes a row `days` after its time."""

from __future__ import annotations

from typing import Any

from pymongo.errors import OperationFailure

# MongoDB's codes for an index that exists with other options.
INDEX_OPTIONS_CONFLICT = {85, 86}


async def ensure_ttl_index(collection: Any, field: str, days: float, name: str) -> None:
    """Make `collection` (PyMongo async) drop each row `days` after its datetime `field`, by
    the TTL index `name`; an index `name` kept with another retention gets this one."""
    seconds = int(days * 86400)
    try:
        await collection.create_index(field, expireAfterSeconds=seconds, name=name)
    except OperationFailure as exc:
        if exc.code not in INDEX_OPTIONS_CONFLICT:
            raise
        changed = {"keyPattern": {field: 1}, "expireAfterSeconds": seconds}
        await collection.database.command("collMod", collection.name, index=changed)
