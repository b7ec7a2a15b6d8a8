"""What the workload-manager remembers about clusters besides its entities (MongoDB):
images already handed to a cluster, and objects left behind by deleted workloads."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import ASCENDING

from slipway_libs.storage import Database, MongoUnitOfWork
from slipway_libs.unit_of_work import UnitOfWork
from slipway_workload_manager.adapters.mongo import mongo_errors
from slipway_workload_manager.adapters.recent import Recent
from slipway_workload_manager.domain.ports import Leftover

LOADED_IMAGES = "loaded_images"
LEFTOVERS = "leftovers"
# A deleted workload's objects are looked for this long (a rollout racing the delete can
# re-create them; a stopped cluster may come back).
LEFTOVER_TTL_S = 7 * 86400
# An image known to be in a cluster is not looked up again for this long (a burst of
# rollouts of one image asks once); `forget` here drops it at once.
LOADED_TTL_S = 5.0


class LoadedImages:
    """Images handed to a cluster, by `name:tag` and digest: a rollout loads each once."""

    def __init__(self, database: Database, known_ttl_s: float = LOADED_TTL_S) -> None:
        self.collection = database.db[LOADED_IMAGES]
        self._known: Recent[bool] = Recent(known_ttl_s)

    @staticmethod
    def _key(cluster_id: str, reference: str, digest: str | None) -> str:
        return f"{cluster_id}|{reference}|{digest or ''}"

    async def has(self, cluster_id: str, reference: str, digest: str | None) -> bool:
        key = self._key(cluster_id, reference, digest)
        if self._known.get(key, False):
            return True
        with mongo_errors():
            found = await self.collection.find_one({"_id": key})
        if found is not None:
            self._known.put(key, True)
        return found is not None

    async def remember(self, cluster_id: str, reference: str, digest: str | None) -> None:
        row = {
            "cluster_id": cluster_id,
            "reference": reference,
            "digest": digest,
            "loaded_at": datetime.now(UTC),
        }
        with mongo_errors():
            await self.collection.replace_one(
                {"_id": self._key(cluster_id, reference, digest)}, row, upsert=True
            )

    async def forget(self, cluster_id: str, reference: str) -> None:
        self._known.clear()
        with mongo_errors():
            await self.collection.delete_many({"cluster_id": cluster_id, "reference": reference})


class Leftovers:
    """Objects of deleted workloads to remove from their cluster whenever it is seen."""

    def __init__(self, database: Database) -> None:
        self.collection = database.db[LEFTOVERS]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("cluster_id", ASCENDING)])
        await self.collection.create_index(
            "since", expireAfterSeconds=LEFTOVER_TTL_S, name="leftover_ttl"
        )

    async def add(self, uow: UnitOfWork, leftover: Leftover) -> None:
        """Record, in the deleting transaction, the object the deleted entity had."""
        if not isinstance(uow, MongoUnitOfWork):
            raise TypeError("leftovers are recorded through a MongoUnitOfWork")
        row = {
            "kind": leftover.kind,
            "cluster_id": leftover.cluster_id,
            "namespace": leftover.namespace,
            "name": leftover.name,
            "since": datetime.now(UTC),
        }
        with mongo_errors():
            await self.collection.replace_one(
                {"_id": leftover.entity_id}, row, upsert=True, session=uow.session
            )

    async def on_cluster(self, cluster_id: str) -> dict[str, Leftover]:
        """The leftovers of a cluster, by entity id."""
        with mongo_errors():
            rows = await self.collection.find({"cluster_id": cluster_id}).to_list()
        return {
            str(row["_id"]): Leftover(
                entity_id=str(row["_id"]),
                kind=str(row["kind"]),
                cluster_id=cluster_id,
                namespace=str(row["namespace"]),
                name=str(row["name"]),
            )
            for row in rows
        }

    async def clusters(self) -> set[str]:
        with mongo_errors():
            return {str(c) for c in await self.collection.distinct("cluster_id")}
