"""SBOMs kept in MongoDB GridFS (a CycloneDX document can pass a document's 16 MB limit),
one file per scan, the image's id in its metadata (the `Sboms` port)."""

from __future__ import annotations

import contextlib

from gridfs import AsyncGridFSBucket, NoFile
from pymongo.errors import PyMongoError

from slipway_libs.storage import Database, unavailable_from

BUCKET = "sboms"


class GridFSSbomStore:
    def __init__(self, database: Database) -> None:
        self.bucket = AsyncGridFSBucket(database.db, bucket_name=BUCKET)
        self.files = database.db[f"{BUCKET}.files"]

    async def keep(self, image_id: str, scan_id: str, document: bytes) -> None:
        """Keep scan `scan_id`'s SBOM (a redelivered scan replaces it), then drop the older."""
        try:
            with contextlib.suppress(NoFile):
                await self.bucket.delete(scan_id)
            await self.bucket.upload_from_stream_with_id(
                scan_id, f"{image_id}.cdx.json", document, metadata={"image_id": image_id}
            )
            await self._drop_where({"metadata.image_id": image_id, "_id": {"$ne": scan_id}})
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def read(self, image_id: str) -> bytes | None:
        try:
            latest = await self.files.find_one(
                {"metadata.image_id": image_id}, {"_id": 1}, sort=[("uploadDate", -1)]
            )
            if latest is None:
                return None
            stream = await self.bucket.open_download_stream(latest["_id"])
            return await stream.read()
        except NoFile:
            return None
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def drop(self, image_id: str) -> None:
        try:
            await self._drop_where({"metadata.image_id": image_id})
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def _drop_where(self, where: dict[str, object]) -> None:
        async for file in self.files.find(where, {"_id": 1}):
            with contextlib.suppress(NoFile):
                await self.bucket.delete(file["_id"])
