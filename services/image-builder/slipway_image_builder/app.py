"""Composition root of the image-builder: settings, MongoDB, Docker, NATS, handlers."""

from __future__ import annotations

import contextlib

from faststream import FastStream

from slipway_contracts import subjects
from slipway_contracts.entities import ContainerImage
from slipway_contracts.events import events_of
from slipway_contracts.jobs import BuildJob
from slipway_image_builder.adapters.build_logs import BuildLogStore
from slipway_image_builder.adapters.docker_engine import DockerEngine
from slipway_image_builder.domain.image import ContainerImageAggregate
from slipway_image_builder.handlers import commands
from slipway_image_builder.handlers.jobs import job_router
from slipway_image_builder.service import ImageService
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_libs.messaging import JOBS_STREAM, DeclaredPublishers
from slipway_libs.worker import WorkerKit, build_worker_app

SERVICE = "image-builder"


def declare_publishers(publishers: DeclaredPublishers) -> None:
    publishers.declare_events(subjects.CONTAINER_IMAGE, events_of(subjects.CONTAINER_IMAGE))
    publishers.declare(
        subjects.job(subjects.CONTAINER_IMAGE, "build"), JOBS_STREAM, BuildJob, "Build one image."
    )


async def assemble(kit: WorkerKit[ImageBuilderSettings]) -> None:
    settings = kit.settings
    images = kit.repository(
        "container_images", ContainerImage, ContainerImageAggregate, subjects.CONTAINER_IMAGE
    )
    logs = BuildLogStore(kit.database)
    kit.setup(logs.ensure_indexes)

    async def progress(image_id: str, lines: list[str]) -> None:
        with contextlib.suppress(Exception):  # live progress is best effort
            await kit.broker.publish(
                {"id": image_id, "lines": lines},
                subjects.progress(subjects.CONTAINER_IMAGE, image_id),
            )

    engine = DockerEngine(settings.docker_host, settings.build_timeout_s)
    service = ImageService(settings, kit.database, images, engine, logs, progress)
    kit.set_global("images", service)
    kit.every(settings.reconcile_interval_s, service.expire_overdue, "deadline sweep")
    kit.every(settings.verify_interval_s, service.verify_built, "image verification")
    kit.log_when_ready(build_roots=[str(root) for root in settings.build_roots])


def create_app(settings: ImageBuilderSettings | None = None) -> FastStream:
    settings = settings or ImageBuilderSettings()
    return build_worker_app(
        SERVICE,
        settings,
        database=settings.database,
        routers=[commands.router, job_router(settings)],
        declare_publishers=declare_publishers,
        assemble=assemble,
    )
