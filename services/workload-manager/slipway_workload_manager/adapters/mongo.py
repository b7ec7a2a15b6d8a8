"""The workload-manager's records in MongoDB: the shared repository plus the unique object
name and the lookups' indexes; and the classification of MongoDB failures that its other
adapters share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from slipway_libs.storage import Database, Repository, classified
from slipway_libs.unit_of_work import Transaction
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.workload import WorkloadAggregate

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


class WorkloadRepository(Repository[W]):
    """Deployments or Kubernetes Services in one collection. (cluster, namespace, name)
    names the object in the cluster and is unique: the use cases refuse a taken name before
    they write, and the unique index settles the race of two creates with the same Conflict.
    `lookups` are the fields the use cases look workloads up by."""

    def __init__(
        self,
        database: Database,
        collection: str,
        model: type[BaseModel],
        aggregate: type[W],
        entity: str,
        source: str,
        *,
        lookups: tuple[str, ...] = (),
    ) -> None:
        super().__init__(database, collection, model, aggregate, entity, source)
        self.lookups = lookups

    async def ensure_indexes(self) -> None:
        await super().ensure_indexes()
        await self.collection.create_index(
            [("cluster_id", ASCENDING), ("namespace", ASCENDING), ("name", ASCENDING)],
            unique=True,
            name=UNIQUE_NAME_INDEX,
        )
        for field in self.lookups:
            await self.collection.create_index([(field, ASCENDING)])

    async def _write(self, tx: Transaction, item: W) -> None:
        try:
            await super()._write(tx, item)
        except DuplicateKeyError as exc:
            if UNIQUE_NAME_INDEX not in str(exc):
                raise
            state = item.state
            raise rules.name_taken(self.entity, state.namespace, state.name) from exc
