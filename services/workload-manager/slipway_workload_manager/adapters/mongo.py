"""The workload-manager's records in MongoDB: the shared repository plus the unique object
name and the lookups' indexes (Deployments, Services, Releases); and the classification of MongoDB failures that its other
adapters share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from slipway_contracts import subjects
from slipway_contracts.entities import Release
from slipway_libs.aggregate import Aggregate
from slipway_libs.errors import Conflict
from slipway_libs.storage import Database, Repository, classified
from slipway_libs.unit_of_work import Transaction
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.release import LIVE, ReleaseAggregate
from slipway_workload_manager.domain.workload import WorkloadAggregate

N = TypeVar("N", bound=Aggregate[Any])
W = TypeVar("W", bound=WorkloadAggregate[Any])
UNIQUE_NAME_INDEX = "cluster_namespace_name_unique"


@contextmanager
def mongo_errors() -> Iterator[None]:
    """Raise a MongoDB failure as Slipway classifies it: a transaction that lost a race
    (TransientConflict, run it again) or Unavailable (no internals leak to the client)."""
    try:
        yield
    except PyMongoError as exc:
        raise classified(exc) from exc


class NamedRepository(Repository[N]):
    """Entities named by (cluster, namespace, name), the name of their object(s) in the
    cluster, in one collection: unique among the entities matching `live` (all of them when
    None). The unique index refuses a taken name (the use cases do not look it up first),
    and the clash is raised as the Conflict `taken` says. `lookups` are the fields the use cases look
    entities up by."""

    def __init__(
        self,
        database: Database,
        collection: str,
        model: type[BaseModel],
        aggregate: type[N],
        entity: str,
        source: str,
        *,
        lookups: tuple[str, ...] = (),
        live: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(database, collection, model, aggregate, entity, source)
        self.lookups = lookups
        self.live = live

    async def ensure_indexes(self) -> None:
        await super().ensure_indexes()
        unique: dict[str, Any] = {"unique": True, "name": UNIQUE_NAME_INDEX}
        if self.live is not None:
            unique["partialFilterExpression"] = self.live
        await self.collection.create_index(
            [("cluster_id", ASCENDING), ("namespace", ASCENDING), ("name", ASCENDING)], **unique
        )
        for field in self.lookups:
            await self.collection.create_index([(field, ASCENDING)])

    def taken(self, namespace: str, name: str) -> Conflict:
        """The refusal of a second entity with a taken name."""
        return rules.name_taken(self.entity, namespace, name)

    async def _write(self, tx: Transaction, item: N) -> None:
        try:
            await super()._write(tx, item)
        except DuplicateKeyError as exc:
            if UNIQUE_NAME_INDEX not in str(exc):
                raise
            state = item.state
            raise self.taken(state.namespace, state.name) from exc


class WorkloadRepository(NamedRepository[W]):
    """Deployments or Kubernetes Services: one object name per cluster and namespace."""


class ReleaseRepository(NamedRepository[ReleaseAggregate]):
    """Releases: helm names a release once per namespace of a cluster, while it is
    installed (an uninstalled release's record keeps the name free); looked up by
    cluster (the name's index) and by deadline (the sweep)."""

    def __init__(self, database: Database, source: str) -> None:
        super().__init__(
            database,
            "releases",
            Release,
            ReleaseAggregate,
            subjects.RELEASE,
            source,
            lookups=("deadline",),
            live={"status": {"$in": [str(status) for status in LIVE]}},
        )

    def taken(self, namespace: str, name: str) -> Conflict:
        return rules.release_name_taken(namespace, name)
