"""Composition root of the chart-validator: settings, MongoDB, helm, NATS, handlers."""

from __future__ import annotations

from faststream import FastStream
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
from slipway_libs.messaging import JOBS_STREAM, DeclaredPublishers
from slipway_libs.worker import WorkerKit, build_worker_app

SERVICE = "chart-validator"


def declare_publishers(publishers: DeclaredPublishers) -> None:
    publishers.declare_events(subjects.HELM_CHART, events_of(subjects.HELM_CHART))
    publishers.declare(
        subjects.job(subjects.HELM_CHART, "validate"),
        JOBS_STREAM,
        ValidateChartJob,
        "Validate one chart.",
    )


async def assemble(kit: WorkerKit[ChartValidatorSettings]) -> None:
    settings = kit.settings
    charts = kit.repository("helm_charts", HelmChart, HelmChartAggregate, subjects.HELM_CHART)

    async def unique_names() -> None:
        await charts.collection.create_index(
            [("namespace", ASCENDING), ("name", ASCENDING)], unique=True, name=UNIQUE_NAME_INDEX
        )

    kit.setup(unique_names)
    helm = Helm(max_concurrency=settings.helm_concurrency)
    service = ChartService(settings, kit.database, charts, ArchiveStore(kit.database), helm)
    kit.set_global("charts", service)
    kit.every(settings.reconcile_interval_s, service.expire_overdue, "deadline sweep")
    kit.every(settings.archive_sweep_interval_s, service.sweep_orphan_archives, "archive sweep")
    kit.log_when_ready(chart_roots=[str(root) for root in settings.chart_roots])


def create_app(settings: ChartValidatorSettings | None = None) -> FastStream:
    settings = settings or ChartValidatorSettings()
    return build_worker_app(
        SERVICE,
        settings,
        database=settings.database,
        routers=[commands.router, job_router(settings, settings.helm_concurrency)],
        declare_publishers=declare_publishers,
        assemble=assemble,
    )
