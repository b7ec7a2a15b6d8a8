"""Work-queue handlers: build jobs from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

from typing import Annotated

from faststream import AckPolicy, Context
from faststream.nats import ConsumerConfig, JStream, NatsMessage, NatsRouter, PullSub

from slipway_contracts import subjects
from slipway_contracts.jobs import BuildJob
from slipway_image_builder.service import ImageService
from slipway_libs.jobs import delivery_count
from slipway_libs.messaging import JOBS_STREAM
from slipway_libs.settings import CommonSettings

Images = Annotated[ImageService, Context("images")]


def job_router(settings: CommonSettings) -> NatsRouter:
    """The build-job consumer, with the ack deadline and redelivery bound of `settings`."""
    router = NatsRouter()

    @router.subscriber(
        subjects.job(subjects.CONTAINER_IMAGE, "build"),
        stream=JStream(JOBS_STREAM, declare=False),
        durable="image-builder-build",
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        config=ConsumerConfig(
            ack_wait=settings.job_ack_wait_s, max_deliver=settings.job_max_deliver + 1
        ),
    )
    async def build(job: BuildJob, msg: NatsMessage, images: Images) -> None:
        """Build one image; a redelivered job for a finished build changes nothing."""
        await images.run_build(job, msg, delivery_count(msg))

    return router
