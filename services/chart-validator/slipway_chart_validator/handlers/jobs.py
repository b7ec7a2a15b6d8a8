"""Work-queue handlers: validation jobs from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

from functools import partial

from faststream.nats import NatsRouter

from slipway_chart_validator.handlers.context import Deps
from slipway_chart_validator.service_layer import validations
from slipway_contracts import subjects
from slipway_contracts.jobs import ValidateChartJob
from slipway_libs.jobs import job_subscriber, run_job
from slipway_libs.settings import CommonSettings
from slipway_libs.worker import JetStreamMessage


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
    async def validate(job: ValidateChartJob, msg: JetStreamMessage, deps: Deps) -> None:
        """Validate one chart; a redelivered job for a judged chart changes nothing."""
        await run_job(
            msg,
            deps.settings,
            work=partial(validations.run_validation, deps, job),
            give_up=partial(validations.give_up_validation, deps, job),
        )

    return router
