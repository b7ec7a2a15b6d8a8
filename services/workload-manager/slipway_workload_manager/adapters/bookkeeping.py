"""What the workload-manager remembers about clusters besides its entities (MongoDB):
images already handed to a cluster, and objects left behind by deleted workloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import PyMongoError

from slipway_libs.storage import Database, UnitOfWork, unavailable_from

LOADED_IMAGES = "loaded_images"
LEFTOVERS = "leftovers"
# A deleted workload's objects are looked for this long (a rollout racing the delete can
# re-create them; a stopped cluster may come back).
LEFTOVER_TTL_S = 7 * 86400


class LoadedImages:
    """Images handed to a cluster, by `name:tag` and digest: a rollout loads each once."""

    def __init__(self, database: Database) -> None:
        self.collection = database.db[LOADED_IMAGES]

    @staticmethod
    def _key(cluster_id: str, reference: str, digest: str | None) -> str:
        return f"{cluster_id}|{reference}|{digest or ''}"

    async def has(self, cluster_id: str, reference: str, digest: str | None) -> bool:
        try:
            found = await self.collection.find_one(
                {"_id": self._key(cluster_id, reference, digest)}
            )
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        return found is not None

    async def remember(self, cluster_id: str, reference: str, digest: str | None) -> None:
        try:
            await self.collection.replace_one(
                {"_id": self._key(cluster_id, reference, digest)},
                {
                    "cluster_id": cluster_id,
                    "reference": reference,
                    "digest": digest,
                    "loaded_at": datetime.now(UTC),
                },
                upsert=True,
            )
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def forget(self, cluster_id: str, reference: str) -> None:
        try:
            await self.collection.delete_many({"cluster_id": cluster_id, "reference": reference})
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc


class Leftovers:
    """Objects of deleted workloads to remove from their cluster whenever it is seen."""

    def __init__(self, database: Database) -> None:
        self.collection = database.db[LEFTOVERS]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("cluster_id", ASCENDING)])
        await self.collection.create_index(
            "since", expireAfterSeconds=LEFTOVER_TTL_S, name="leftover_ttl"
        )

    async def add(
        self,
        uow: UnitOfWork,
        *,
        entity_id: str,
        kind: str,
        cluster_id: str,
        namespace: str,
        name: str,
    ) -> None:
        """Record, in the deleting transaction, the object the deleted entity had."""
        await self.collection.replace_one(
            {"_id": entity_id},
            {
                "kind": kind,
                "cluster_id": cluster_id,
                "namespace": namespace,
                "name": name,
                "since": datetime.now(UTC),
            },
            upsert=True,
            session=uow.session,
        )

    async def on_cluster(self, cluster_id: str) -> dict[str, dict[str, Any]]:
        """The leftovers of a cluster, by entity id."""
        try:
            rows = await self.collection.find({"cluster_id": cluster_id}).to_list()
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        return {str(row["_id"]): row for row in rows}

    async def clusters(self) -> set[str]:
        try:
            return {str(c) for c in await self.collection.distinct("cluster_id")}
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
