"""Composition root of the chart-validator: settings, MongoDB, helm, NATS, handlers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from faststream import ContextRepo, FastStream
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pymongo import ASCENDING

from slipway_chart_validator.adapters.archive_store import ArchiveStore
from slipway_chart_validator.adapters.helm import Helm
from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.handlers import commands
from slipway_chart_validator.handlers.jobs import job_router
from slipway_chart_validator.service import UNIQUE_NAME_INDEX, ChartService
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_contracts import subjects
from slipway_contracts.entities import HelmChart
from slipway_contracts.events import events_of
from slipway_contracts.jobs import ValidateChartJob
from slipway_libs import logging as slipway_logging
from slipway_libs.messaging import EVENTS_STREAM, JOBS_STREAM, DeclaredPublishers, make_broker
from slipway_libs.relay import OutboxRelay
from slipway_libs.runtime import Background, add_health, connect_bus, every, wait_for_database
from slipway_libs.storage import Database, Repository

SERVICE = "chart-validator"
log = logging.getLogger(__name__)


def declare_publishers(broker: NatsBroker) -> DeclaredPublishers:
    publishers = DeclaredPublishers(broker)
    publishers.declare_events(subjects.HELM_CHART, events_of(subjects.HELM_CHART))
    publishers.declare(
        subjects.job(subjects.HELM_CHART, "validate"),
        JOBS_STREAM,
        ValidateChartJob,
        "Validate one chart.",
    )
    return publishers


def create_app(settings: ChartValidatorSettings | None = None) -> FastStream:
    settings = settings or ChartValidatorSettings()
    broker = make_broker(settings.nats_url)
    broker.include_router(commands.router)
    broker.include_router(job_router(settings, settings.helm_concurrency))
    publishers = declare_publishers(broker)
    state: dict[str, Any] = {}
    add_health(broker, SERVICE, lambda: state.get("database"))

    @contextlib.asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        slipway_logging.configure(SERVICE, settings.log_level)
        database = Database(settings.mongodb_uri, settings.database, settings.mongodb_timeout_s)
        charts = Repository(
            database,
            "helm_charts",
            HelmChart,
            HelmChartAggregate,
            subjects.HELM_CHART,
            f"/slipway/{SERVICE}",
            EVENTS_STREAM,
        )

        async def setup() -> None:
            await database.ensure_indexes()
            await charts.ensure_indexes()
            await charts.collection.create_index(
                [("namespace", ASCENDING), ("name", ASCENDING)],
                unique=True,
                name=UNIQUE_NAME_INDEX,
            )

        await wait_for_database(database, setup)
        await connect_bus(broker)
        service = ChartService(
            settings,
            database,
            charts,
            ArchiveStore(database),
            Helm(max_concurrency=settings.helm_concurrency),
        )
        context.set_global("charts", service)
        state["database"] = database
        relay = OutboxRelay(
            database,
            publishers.publish,
            owner=settings.instance,
            interval_s=settings.relay_interval_s,
        )
        background = Background()
        background.start(relay.run())
        background.start(
            every(settings.reconcile_interval_s, service.expire_overdue, "deadline sweep")
        )
        log.info(
            "chart-validator ready", extra={"chart_roots": [str(r) for r in settings.chart_roots]}
        )
        try:
            yield
        finally:
            await background.stop()
            await database.close()

    return FastStream(
        broker,
        lifespan=lifespan,
        specification=AsyncAPI(title="Slipway chart-validator", version="0.1.0"),
    )
