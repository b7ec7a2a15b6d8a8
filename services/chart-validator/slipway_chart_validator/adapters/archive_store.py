"""Uploaded chart archives, kept in MongoDB GridFS so that any validator replica can read
them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from gridfs import AsyncGridFSBucket, NoFile
from pymongo import ASCENDING
from pymongo.errors import PyMongoError

from slipway_libs.errors import PermanentError
from slipway_libs.storage import Database, unavailable_from

BUCKET = "chart_archives"


class GridFSArchiveStore:
    """Archives in the service's database (implements `domain.ports.ArchiveStore`)."""

    def __init__(self, database: Database) -> None:
        self.bucket = AsyncGridFSBucket(database.db, bucket_name=BUCKET)
        self.files = database.db[f"{BUCKET}.files"]  # GridFS keeps one document per file here

    async def put(self, archive_id: str, filename: str, data: bytes) -> None:
        """Store one archive under `archive_id`."""
        try:
            await self.bucket.upload_from_stream_with_id(archive_id, filename, data)
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def read(self, archive_id: str) -> bytes:
        """The archive's bytes; PermanentError when it is gone."""
        try:
            stream = await self.bucket.open_download_stream(archive_id)
            return await stream.read()
        except NoFile as exc:
            raise PermanentError(f"the chart archive '{archive_id}' is no longer stored") from exc
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def drop(self, archive_id: str) -> None:
        """Remove an archive no chart refers to any more (best effort: an orphan is harmless)."""
        with contextlib.suppress(NoFile, PyMongoError):
            await self.bucket.delete(archive_id)

    async def stored_before(self, cutoff: datetime, batch: int = 500) -> AsyncIterator[list[str]]:
        """Ids of the archives uploaded before `cutoff`, oldest first, `batch` at a time."""
        try:
            cursor = self.files.find(
                {"uploadDate": {"$lt": cutoff}}, {"_id": 1}, batch_size=batch
            ).sort("uploadDate", ASCENDING)
            ids: list[str] = []
            async for file in cursor:
                ids.append(file["_id"])
                if len(ids) == batch:
                    yield ids
                    ids = []
            if ids:
                yield ids
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
