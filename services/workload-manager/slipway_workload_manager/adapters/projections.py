"""The workload-manager's own read models of images, charts and clusters (MongoDB).

Each row keeps the `entityversion` of the event that wrote it; an event is applied only
when it is newer, so a redelivered or late event changes nothing. A `deleted` event
leaves a tombstone (id and version only) that every lookup treats as absent, so that an
older event arriving after the deletion cannot bring the row back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from slipway_contracts import subjects
from slipway_libs.storage import Database
from slipway_workload_manager.adapters.mongo import mongo_errors
from slipway_workload_manager.adapters.recent import MISSING, Recent
from slipway_workload_manager.domain.projections import (
    ProjectedChart,
    ProjectedCluster,
    ProjectedEvent,
    ProjectedImage,
    from_row,
    from_snapshot,
    newest,
)

Lookup = Callable[[str, str], Awaitable[dict[str, Any] | None]]
"""(entity, id) -> the owning service's current snapshot, or None."""

log = logging.getLogger(__name__)

COLLECTIONS = {
    subjects.CONTAINER_IMAGE: "projected_images",
    subjects.HELM_CHART: "projected_charts",
    subjects.MINIKUBE_CLUSTER: "projected_clusters",
}
LIVE = {"deleted": {"$ne": True}}
DUPLICATE_KEY = 11000  # an upsert that found its row at this version or a newer one
# Rows by id are kept this long (`Recent`); an event applied here drops its row at once.
ROW_TTL_S = 2.0


class Projections:
    """The `Projections` port on three MongoDB collections; `lookup` asks an entity's owner
    for its current state (catch-up)."""

    def __init__(
        self, database: Database, lookup: Lookup | None = None, row_ttl_s: float = ROW_TTL_S
    ) -> None:
        self.database = database
        self.lookup = lookup
        self._rows: Recent[dict[str, Any] | None] = Recent(row_ttl_s)
        self._applied = 0  # writes made here: a read that overlaps one is not kept
        self.images = database.db[COLLECTIONS[subjects.CONTAINER_IMAGE]]
        self.charts = database.db[COLLECTIONS[subjects.HELM_CHART]]
        self.clusters = database.db[COLLECTIONS[subjects.MINIKUBE_CLUSTER]]

    async def ensure_indexes(self) -> None:
        await self.images.create_index([("reference", ASCENDING)])

    async def apply(self, event: ProjectedEvent) -> bool:
        """Write the event's state if it is newer than the row's; True when it was."""
        collection = self.database.db[COLLECTIONS[event.entity]]
        self._applied += 1
        self._rows.drop((collection.name, event.entity_id))
        with mongo_errors():
            try:
                await collection.replace_one(*_newer_only(event), upsert=True)
            except DuplicateKeyError:
                return False  # the row holds this version or a newer one already
            finally:
                self._rows.drop((collection.name, event.entity_id))
        return True

    async def apply_all(self, events: list[ProjectedEvent]) -> None:
        """Write each entity's newest state among `events` where it is newer than the row's:
        one bulk write per collection. Raises (Unavailable) unless every write is stored or
        was already outdated."""
        by_collection: dict[str, list[ReplaceOne[Any]]] = {}
        for event in newest(events):
            writes = by_collection.setdefault(COLLECTIONS[event.entity], [])
            writes.append(ReplaceOne(*_newer_only(event), upsert=True))
        self._applied += 1
        for event in events:
            self._rows.drop((COLLECTIONS[event.entity], event.entity_id))
        try:
            for name, writes in by_collection.items():
                await self._bulk(self.database.db[name], writes)
        finally:
            for event in events:  # a read that raced the writes kept nothing
                self._rows.drop((COLLECTIONS[event.entity], event.entity_id))

    async def _bulk(self, collection: Any, writes: list[ReplaceOne[Any]]) -> None:
        with mongo_errors():
            try:
                await collection.bulk_write(writes, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if exc.details.get("writeConcernErrors") or any(
                    error.get("code") != DUPLICATE_KEY for error in errors
                ):
                    raise

    async def catch_up(self, entity: str, entity_ids: list[str]) -> bool:
        """Ask the owners for the current state of these entities and apply what is newer
        than the rows: a client that saw a cluster `running` (or an image `built`) and
        at once deploys must not be refused because its event is still on the way.

        True when an owner answered: the rows are now at least as new as its answer
        (written here, or by the event consumer meanwhile), so a check is worth repeating.
        """
        if self.lookup is None:
            return False
        answered = False
        for entity_id in entity_ids:
            snapshot = await self.lookup(entity, entity_id)
            if snapshot is None:
                continue
            answered = True
            if await self.apply(from_snapshot(entity, snapshot)):
                log.info(
                    "projection caught up with its owner",
                    extra={
                        "entity": entity,
                        "entity_id": entity_id,
                        "revision": snapshot.get("revision"),
                        "status": snapshot.get("status"),
                    },
                )
        return answered

    async def _one(self, collection: Any, entity_id: str) -> dict[str, Any] | None:
        """The live row (kept `row_ttl_s`: a burst of rollouts reads it once)."""
        key = (collection.name, entity_id)
        kept = self._rows.get(key)
        if kept is not MISSING:
            return kept  # type: ignore[return-value]
        applied = self._applied
        with mongo_errors():
            row: dict[str, Any] | None = await collection.find_one({"_id": entity_id, **LIVE})
        if applied == self._applied:
            self._rows.put(key, row)
        return row

    async def image(self, image_id: str) -> ProjectedImage | None:
        row = await self._one(self.images, image_id)
        return from_row(ProjectedImage, row) if row else None

    async def images_named(self, reference: str) -> list[ProjectedImage]:
        """Images whose `name:tag` is `reference`, newest first."""
        with mongo_errors():
            rows = await (
                self.images.find({"reference": reference, **LIVE})
                .sort("entityversion", -1)
                .to_list()
            )
        return [from_row(ProjectedImage, row) for row in rows]

    async def chart(self, chart_id: str) -> ProjectedChart | None:
        row = await self._one(self.charts, chart_id)
        return from_row(ProjectedChart, row) if row else None

    async def cluster(self, cluster_id: str) -> ProjectedCluster | None:
        row = await self._one(self.clusters, cluster_id)
        return from_row(ProjectedCluster, row) if row else None

    async def version(self, entity: str, entity_id: str) -> int | None:
        """The entityversion held for an entity (tombstones included), or None."""
        with mongo_errors():
            row = await self.database.db[COLLECTIONS[entity]].find_one({"_id": entity_id})
        return int(row["entityversion"]) if row else None


def _newer_only(event: ProjectedEvent) -> tuple[dict[str, Any], dict[str, Any]]:
    """(filter, row) of the upsert that writes `event` over an older row only: on a row at
    this version or newer the filter matches nothing and the insert meets the `_id` taken."""
    row: dict[str, Any] = {"entityversion": event.entityversion, "deleted": event.deletes}
    if not event.deletes:
        row.update(event.fields)
    return {"_id": event.entity_id, "entityversion": {"$lt": event.entityversion}}, row
