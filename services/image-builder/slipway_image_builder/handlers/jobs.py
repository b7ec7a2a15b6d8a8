"""Work-queue handlers: build jobs from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

from typing import Annotated

from faststream import Context
from faststream.nats import NatsMessage, NatsRouter

from slipway_contracts import subjects
from slipway_contracts.jobs import BuildJob
from slipway_image_builder.service import ImageService
from slipway_libs.jobs import delivery_count, job_subscriber
from slipway_libs.settings import CommonSettings

Images = Annotated[ImageService, Context("images")]


def job_router(settings: CommonSettings) -> NatsRouter:
    """The build-job consumer, with the ack deadline and redelivery bound of `settings`."""
    router = NatsRouter()

    @job_subscriber(
        router, subjects.job(subjects.CONTAINER_IMAGE, "build"), "image-builder-build", settings
    )
    async def build(job: BuildJob, msg: NatsMessage, images: Images) -> None:
        """Build one image; a redelivered job for a finished build changes nothing."""
        await images.run_build(job, msg, delivery_count(msg))

    return router
