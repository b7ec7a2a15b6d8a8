"""Build logs kept in MongoDB, one document per line, readable after the build (the
`BuildLogs` port)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from pymongo import ASCENDING
from pymongo.errors import PyMongoError

from slipway_libs.storage import Database, unavailable_from
from slipway_observability.retention import ensure_ttl_index

COLLECTION = "build_logs"
TTL_INDEX = "build_log_retention"


@contextlib.contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    """MongoDB failures as Unavailable: the port's one error (a lost batch of progress lines
    is then logged, not fatal)."""
    try:
        yield
    except PyMongoError as exc:
        raise unavailable_from(exc) from exc


class BuildLogStore:
    """Build log lines, each kept `retention_days` after it was written (a TTL index)."""

    def __init__(self, database: Database, retention_days: float = 30) -> None:
        self.collection = database.db[COLLECTION]
        self.retention_days = retention_days

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("image_id", ASCENDING), ("build_id", ASCENDING), ("seq", ASCENDING)]
        )
        await ensure_ttl_index(self.collection, "at", self.retention_days, TTL_INDEX)

    async def restart(self, image_id: str, build_id: str) -> None:
        """Forget the lines of an earlier attempt: a redelivered build starts its log over."""
        with _unavailable_on_failure():
            await self.collection.delete_many({"image_id": image_id, "build_id": build_id})

    async def append(self, image_id: str, build_id: str, first_seq: int, lines: list[str]) -> None:
        """Keep a (non-empty) batch of log lines numbered from `first_seq`."""
        now = datetime.now(UTC)
        rows = [
            {
                "image_id": image_id,
                "build_id": build_id,
                "seq": first_seq + i,
                "line": line,
                "at": now,
            }
            for i, line in enumerate(lines)
        ]
        with _unavailable_on_failure():
            await self.collection.insert_many(rows)

    async def read(self, image_id: str, build_id: str, from_line: int = 0) -> list[str]:
        query = {"image_id": image_id, "build_id": build_id, "seq": {"$gte": from_line}}
        with _unavailable_on_failure():
            cursor = self.collection.find(query).sort("seq", ASCENDING)
            return [doc["line"] async for doc in cursor]

    async def drop(self, image_id: str) -> None:
        with _unavailable_on_failure():
            await self.collection.delete_many({"image_id": image_id})
