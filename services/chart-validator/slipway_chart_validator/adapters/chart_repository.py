"""The charts in MongoDB: the shared repository plus the unique (namespace, name) index."""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from slipway_chart_validator.domain.chart import HelmChartAggregate, name_taken
from slipway_contracts import subjects
from slipway_contracts.entities import HelmChart
from slipway_libs.storage import Database, Repository
from slipway_libs.unit_of_work import Transaction

COLLECTION = "helm_charts"
UNIQUE_NAME_INDEX = "namespace_name_unique"


class ChartRepository(Repository[HelmChartAggregate]):
    """Charts in the `helm_charts` collection; their events have source `source`.

    The use cases refuse a taken name before they write; the unique index settles the race
    of two commands writing the same name at once, with the same Conflict.
    """

    def __init__(self, database: Database, source: str) -> None:
        super().__init__(
            database, COLLECTION, HelmChart, HelmChartAggregate, subjects.HELM_CHART, source
        )

    async def ensure_indexes(self) -> None:
        await super().ensure_indexes()
        await self.collection.create_index(
            [("namespace", ASCENDING), ("name", ASCENDING)], unique=True, name=UNIQUE_NAME_INDEX
        )

    async def _write(self, tx: Transaction, item: HelmChartAggregate) -> None:
        try:
            await super()._write(tx, item)
        except DuplicateKeyError as exc:
            if UNIQUE_NAME_INDEX not in str(exc):
                raise
            raise name_taken(item.state.namespace, item.state.name) from exc
