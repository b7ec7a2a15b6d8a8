"""Work-queue handlers: validation jobs from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

from typing import Annotated

from faststream import AckPolicy, Context
from faststream.nats import ConsumerConfig, JStream, NatsMessage, NatsRouter, PullSub

from slipway_chart_validator.service import ChartService
from slipway_contracts import subjects
from slipway_contracts.jobs import ValidateChartJob
from slipway_libs.jobs import delivery_count
from slipway_libs.messaging import JOBS_STREAM
from slipway_libs.settings import CommonSettings

Charts = Annotated[ChartService, Context("charts")]


def job_router(settings: CommonSettings, concurrency: int) -> NatsRouter:
    """The validation-job consumer, with the ack deadline and redelivery bound of `settings`."""
    router = NatsRouter()

    @router.subscriber(
        subjects.job(subjects.HELM_CHART, "validate"),
        stream=JStream(JOBS_STREAM, declare=False),
        durable="chart-validator-validate",
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        max_workers=concurrency,
        config=ConsumerConfig(
            ack_wait=settings.job_ack_wait_s, max_deliver=settings.job_max_deliver + 1
        ),
    )
    async def validate(job: ValidateChartJob, msg: NatsMessage, charts: Charts) -> None:
        """Validate one chart; a redelivered job for a judged chart changes nothing."""
        await charts.run_validation(job, msg, delivery_count(msg))

    return router
