"""Work-queue handlers: build and scan jobs from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

from functools import partial

from faststream.nats import NatsRouter

from slipway_contracts import subjects
from slipway_contracts.jobs import BuildJob, ScanJob
from slipway_image_builder.handlers.context import Deps
from slipway_image_builder.service_layer import builds, scans
from slipway_libs.jobs import job_subscriber, run_job
from slipway_libs.settings import CommonSettings
from slipway_libs.worker import JetStreamMessage


def job_router(settings: CommonSettings) -> NatsRouter:
    """The build-job and scan-job consumers, with the ack deadline and redelivery bound of `settings`."""
    router = NatsRouter()

    @job_subscriber(
        router, subjects.job(subjects.CONTAINER_IMAGE, "build"), "image-builder-build", settings
    )
    async def build(job: BuildJob, msg: JetStreamMessage, deps: Deps) -> None:
        """Build one image; a redelivered job for a finished build changes nothing."""
        work = partial(builds.run_build, deps, job)
        give_up = partial(builds.give_up_build, deps, job)
        await run_job(msg, deps.settings, work=work, give_up=give_up)

    @job_subscriber(
        router, subjects.job(subjects.CONTAINER_IMAGE, "scan"), "image-builder-scan", settings
    )
    async def scan(job: ScanJob, msg: JetStreamMessage, deps: Deps) -> None:
        """Scan one image; a redelivered job for a finished scan changes nothing."""
        work = partial(scans.run_scan, deps, job)
        give_up = partial(scans.give_up_scan, deps, job)
        await run_job(msg, deps.settings, work=work, give_up=give_up)

    return router
