"""Uploaded chart archives in GridFS never outlive the charts that use them (real MongoDB)."""

from __future__ import annotations

import base64
import io
import tarfile
import uuid
from datetime import timedelta

import pytest
from pymongo import ASCENDING

from slipway_chart_validator.adapters.archive_store import ArchiveStore
from slipway_chart_validator.adapters.helm import Helm
from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.service import UNIQUE_NAME_INDEX, ChartService
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_contracts import subjects
from slipway_contracts.commands import DeleteChart, RegisterChart, UpdateChart
from slipway_contracts.entities import HelmChart
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import Conflict, PermanentError, PreconditionFailed
from slipway_libs.messaging import EVENTS_STREAM
from slipway_libs.storage import Database, Repository
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
async def service(stack):
    settings = ChartValidatorSettings(
        mongodb_uri=stack.mongodb_uri,
        nats_url=stack.nats_url,
        database=f"chart_archives_{uuid.uuid4().hex[:8]}",
        chart_roots=[FIXTURE_CHARTS],
    )
    database = Database(settings.mongodb_uri, settings.database)
    await database.ensure_indexes()
    charts = Repository(
        database,
        "helm_charts",
        HelmChart,
        HelmChartAggregate,
        subjects.HELM_CHART,
        "/slipway/chart-validator",
        EVENTS_STREAM,
    )
    await charts.ensure_indexes()
    await charts.collection.create_index(
        [("namespace", ASCENDING), ("name", ASCENDING)], unique=True, name=UNIQUE_NAME_INDEX
    )
    yield ChartService(settings, database, charts, ArchiveStore(database), Helm())
    await database.client.drop_database(settings.database)
    await database.close()


async def stored(service: ChartService) -> set[str]:
    return set(await service.archives.files.distinct("_id"))


async def uploaded_ago(service: ChartService, archive_id: str, age: timedelta) -> None:
    """Pretend the archive was uploaded `age` ago."""
    await service.archives.files.update_one(
        {"_id": archive_id}, {"$set": {"uploadDate": utcnow() - age}}
    )


async def test_the_sweep_removes_only_old_archives_no_chart_refers_to(service):
    assert service.settings.archive_orphan_grace_s == 600  # ten minutes by default
    chart = (await service.create(RegisterChart(**spec())))["data"]
    in_use = chart["source"]["archive_id"]
    # A command that stored its archive and then died before its chart committed.
    orphan, young_orphan = str(uuid.uuid4()), str(uuid.uuid4())
    await service.archives.put(orphan, "crashed.tgz", DATA)
    await service.archives.put(young_orphan, "in-flight.tgz", DATA)
    await uploaded_ago(service, in_use, timedelta(minutes=11))
    await uploaded_ago(service, orphan, timedelta(minutes=11))
    await uploaded_ago(service, young_orphan, timedelta(minutes=9))

    assert await service.sweep_orphan_archives() == 1

    assert await stored(service) == {in_use, young_orphan}
    assert await service.archives.read(in_use) == DATA
    with pytest.raises(PermanentError):
        await service.archives.read(orphan)
    assert await service.sweep_orphan_archives() == 0


async def test_a_duplicate_chart_leaves_no_archive_behind(service):
    first = (await service.create(RegisterChart(**spec())))["data"]
    with pytest.raises(Conflict):
        await service.create(RegisterChart(**spec(description="the same name again")))
    assert await stored(service) == {first["source"]["archive_id"]}


async def test_put_and_delete_remove_the_archive_they_make_unused(service):
    chart = (await service.create(RegisterChart(**spec())))["data"]
    first = chart["source"]["archive_id"]

    replaced = (await service.update(UpdateChart(id=chart["id"], **spec())))["data"]
    second = replaced["source"]["archive_id"]
    assert second != first
    assert await stored(service) == {second}

    path = {"path": str(FIXTURE_CHARTS / "good")}
    await service.update(UpdateChart(id=chart["id"], **spec(source=path)))
    assert await stored(service) == set()

    other = (await service.create(RegisterChart(**spec(namespace="team-b"))))["data"]
    assert await stored(service) == {other["source"]["archive_id"]}
    await service.delete(DeleteChart(id=other["id"]))
    assert await stored(service) == set()


async def test_a_failed_put_keeps_the_chart_archive_and_drops_the_new_one(service):
    chart = (await service.create(RegisterChart(**spec())))["data"]
    with pytest.raises(PreconditionFailed):
        await service.update(UpdateChart(id=chart["id"], expected_revision=7, **spec()))
    assert await stored(service) == {chart["source"]["archive_id"]}
