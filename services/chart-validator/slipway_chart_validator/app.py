"""Composition root of the chart-validator: settings, MongoDB, helm, NATS, handlers."""

from __future__ import annotations

from functools import partial

from faststream import FastStream

from slipway_chart_validator.adapters.archive_store import GridFSArchiveStore
from slipway_chart_validator.adapters.chart_repository import ChartRepository
from slipway_chart_validator.adapters.helm import Helm
from slipway_chart_validator.adapters.tools import local_tools
from slipway_chart_validator.handlers import commands
from slipway_chart_validator.handlers.context import DEPENDENCIES
from slipway_chart_validator.handlers.jobs import job_router
from slipway_chart_validator.service_layer.archives import sweep_orphan_archives
from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_chart_validator.service_layer.validations import expire_overdue_validations
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_contracts import subjects
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
    charts = ChartRepository(kit.database, source=f"/slipway/{SERVICE}")
    kit.setup(charts.ensure_indexes)
    tools = local_tools(
        settings.chart_roots,
        unpacked_max_bytes=settings.unpacked_max_bytes,
        helm=Helm(max_concurrency=settings.helm_concurrency),
    )
    deps = Dependencies(
        settings=settings,
        uow=kit.unit_of_work(),
        charts=charts,
        archives=GridFSArchiveStore(kit.database),
        tools=tools,
    )
    kit.set_global(DEPENDENCIES, deps)
    sweep_deadlines = partial(expire_overdue_validations, deps)
    kit.every(settings.reconcile_interval_s, sweep_deadlines, "deadline sweep")
    sweep_archives = partial(sweep_orphan_archives, deps)
    kit.every(settings.archive_sweep_interval_s, sweep_archives, "archive sweep")
    kit.log_when_ready(chart_roots=[str(root) for root in settings.chart_roots])


def create_app(settings: ChartValidatorSettings | None = None) -> FastStream:
    settings = settings or ChartValidatorSettings()
    return build_worker_app(
        SERVICE,
        settings,
        database=settings.database,
        routers=[commands.handlers, job_router(settings, settings.helm_concurrency)],
        declare_publishers=declare_publishers,
        assemble=assemble,
    )
