"""Build logs kept in MongoDB, one document per line, readable after the build."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ASCENDING

from slipway_libs.storage import Database

COLLECTION = "build_logs"


class BuildLogStore:
    def __init__(self, database: Database) -> None:
        self.collection = database.db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index(
            [("image_id", ASCENDING), ("build_id", ASCENDING), ("seq", ASCENDING)]
        )

    async def restart(self, image_id: str, build_id: str) -> None:
        """Forget the lines of an earlier attempt: a redelivered build starts its log over."""
        await self.collection.delete_many({"image_id": image_id, "build_id": build_id})

    async def append(self, image_id: str, build_id: str, first_seq: int, lines: list[str]) -> None:
        """Keep a (non-empty) batch of log lines numbered from `first_seq`."""
        now = datetime.now(UTC)
        await self.collection.insert_many(
            [
                {
                    "image_id": image_id,
                    "build_id": build_id,
                    "seq": first_seq + i,
                    "line": line,
                    "at": now,
                }
                for i, line in enumerate(lines)
            ]
        )

    async def read(self, image_id: str, build_id: str) -> list[str]:
        cursor = self.collection.find({"image_id": image_id, "build_id": build_id}).sort(
            "seq", ASCENDING
        )
        return [doc["line"] async for doc in cursor]

    async def drop(self, image_id: str) -> None:
        await self.collection.delete_many({"image_id": image_id})
