"""Work-queue handlers: validation jobs from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

from typing import Annotated

from faststream import Context
from faststream.nats import NatsMessage, NatsRouter

from slipway_chart_validator.service import ChartService
from slipway_contracts import subjects
from slipway_contracts.jobs import ValidateChartJob
from slipway_libs.jobs import delivery_count, job_subscriber
from slipway_libs.settings import CommonSettings

Charts = Annotated[ChartService, Context("charts")]


def job_router(settings: CommonSettings, concurrency: int) -> NatsRouter:
    """The validation-job consumer, with the ack deadline and redelivery bound of `settings`."""
    router = NatsRouter()

    @job_subscriber(
        router,
        subjects.job(subjects.HELM_CHART, "validate"),
        "chart-validator-validate",
        settings,
        max_workers=concurrency,
    )
    async def validate(job: ValidateChartJob, msg: NatsMessage, charts: Charts) -> None:
        """Validate one chart; a redelivered job for a judged chart changes nothing."""
        await charts.run_validation(job, msg, delivery_count(msg))

    return router
