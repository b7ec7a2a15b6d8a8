"""Uploaded chart archives in GridFS never outlive the charts that use them (real MongoDB)."""

from __future__ import annotations

import base64
import io
import tarfile
import uuid
from datetime import timedelta

import pytest

from slipway_chart_validator.adapters.archive_store import GridFSArchiveStore
from slipway_chart_validator.adapters.chart_repository import ChartRepository
from slipway_chart_validator.adapters.tools import local_tools
from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.service_layer.archives import sweep_orphan_archives
from slipway_chart_validator.service_layer.charts import delete_chart, register_chart, update_chart
from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_contracts.commands import DeleteChart, RegisterChart, UpdateChart
from slipway_contracts.entities import ChartSourceRef
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import Conflict, PermanentError, PreconditionFailed
from slipway_libs.storage import Database, MongoUnitOfWork
from tests.stack import ROOT

FIXTURE_CHARTS = ROOT / "tests" / "fixtures" / "charts"


def packaged(chart: str = "good") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(FIXTURE_CHARTS / chart, arcname=chart)
    return buffer.getvalue()


DATA = packaged()
ARCHIVE = base64.b64encode(DATA).decode()


def spec(**overrides):
    fields = {
        "name": "good",
        "version": "0.1.0",
        "app_version": "1.0.0",
        "namespace": "team-a",
        "source": {"archive": ARCHIVE},
    }
    return {**fields, **overrides}


@pytest.fixture
async def deps(stack):
    settings = ChartValidatorSettings(
        mongodb_uri=stack.mongodb_uri,
        nats_url=stack.nats_url,
        database=f"chart_archives_{uuid.uuid4().hex[:8]}",
        chart_roots=[FIXTURE_CHARTS],
    )
    database = Database(settings.mongodb_uri, settings.database)
    await database.ensure_indexes()
    charts = ChartRepository(database, source="/slipway/chart-validator")
    await charts.ensure_indexes()
    archives = GridFSArchiveStore(database)
    tools = local_tools(settings.chart_roots)
    yield Dependencies(
        settings=settings,
        uow=MongoUnitOfWork(database),
        charts=charts,
        archives=archives,
        tools=tools,
    )
    await database.client.drop_database(settings.database)
    await database.close()


async def stored(deps: Dependencies) -> set[str]:
    return set(await deps.archives.files.distinct("_id"))


async def uploaded_ago(deps: Dependencies, archive_id: str, age: timedelta) -> None:
    """Pretend the archive was uploaded `age` ago."""
    await deps.archives.files.update_one(
        {"_id": archive_id}, {"$set": {"uploadDate": utcnow() - age}}
    )


async def test_the_sweep_removes_only_old_archives_no_chart_refers_to(deps):
    assert deps.settings.archive_orphan_grace_s == 600  # ten minutes by default
    chart = (await register_chart(deps, RegisterChart(**spec())))["data"]
    in_use = chart["source"]["archive_id"]
    # A command that stored its archive and then died before its chart committed.
    orphan, young_orphan = str(uuid.uuid4()), str(uuid.uuid4())
    await deps.archives.put(orphan, "crashed.tgz", DATA)
    await deps.archives.put(young_orphan, "in-flight.tgz", DATA)
    await uploaded_ago(deps, in_use, timedelta(minutes=11))
    await uploaded_ago(deps, orphan, timedelta(minutes=11))
    await uploaded_ago(deps, young_orphan, timedelta(minutes=9))

    assert await sweep_orphan_archives(deps) == 1

    assert await stored(deps) == {in_use, young_orphan}
    assert await deps.archives.read(in_use) == DATA
    with pytest.raises(PermanentError):
        await deps.archives.read(orphan)
    assert await sweep_orphan_archives(deps) == 0


async def test_a_duplicate_chart_leaves_no_archive_behind(deps):
    first = (await register_chart(deps, RegisterChart(**spec())))["data"]
    with pytest.raises(Conflict):
        await register_chart(deps, RegisterChart(**spec(description="the same name again")))
    assert await stored(deps) == {first["source"]["archive_id"]}


async def test_put_and_delete_remove_the_archive_they_make_unused(deps):
    chart = (await register_chart(deps, RegisterChart(**spec())))["data"]
    first = chart["source"]["archive_id"]

    replaced = (await update_chart(deps, UpdateChart(id=chart["id"], **spec())))["data"]
    second = replaced["source"]["archive_id"]
    assert second != first
    assert await stored(deps) == {second}

    path = {"path": str(FIXTURE_CHARTS / "good")}
    await update_chart(deps, UpdateChart(id=chart["id"], **spec(source=path)))
    assert await stored(deps) == set()

    other = (await register_chart(deps, RegisterChart(**spec(namespace="team-b"))))["data"]
    assert await stored(deps) == {other["source"]["archive_id"]}
    await delete_chart(deps, DeleteChart(id=other["id"]))
    assert await stored(deps) == set()


async def test_a_failed_put_keeps_the_chart_archive_and_drops_the_new_one(deps):
    chart = (await register_chart(deps, RegisterChart(**spec())))["data"]
    with pytest.raises(PreconditionFailed):
        await update_chart(deps, UpdateChart(id=chart["id"], expected_revision=7, **spec()))
    assert await stored(deps) == {chart["source"]["archive_id"]}


async def test_a_name_taken_in_a_race_is_refused_by_the_index_with_the_same_conflict(deps):
    first = (await register_chart(deps, RegisterChart(**spec())))["data"]
    # A second writer that checked the name before the first committed: the unique index
    # refuses its chart.
    racer = HelmChartAggregate.register(
        RegisterChart(**spec()),
        ChartSourceRef(path="good"),
        chart_id=context.new_id(),
        validation_id=context.new_id(),
        deadline=utcnow(),
    )
    with pytest.raises(Conflict) as taken:
        async with deps.uow:
            deps.charts.add(racer)
            await deps.uow.commit()
    assert taken.value.message == "a chart named 'good' already exists in namespace 'team-a'"
    assert [c.id for c in await deps.charts.matching(namespace="team-a")] == [first["id"]]
