"""Composition root of the image-builder: settings, MongoDB, Docker, NATS, handlers."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from faststream import ContextRepo, FastStream
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

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
from slipway_libs import logging as slipway_logging
from slipway_libs.messaging import EVENTS_STREAM, JOBS_STREAM, DeclaredPublishers, make_broker
from slipway_libs.relay import OutboxRelay
from slipway_libs.runtime import Background, add_health, connect_bus, every, wait_for_database
from slipway_libs.storage import Database, Repository

SERVICE = "image-builder"
log = logging.getLogger(__name__)


def declare_publishers(broker: NatsBroker) -> DeclaredPublishers:
    publishers = DeclaredPublishers(broker)
    publishers.declare_events(subjects.CONTAINER_IMAGE, events_of(subjects.CONTAINER_IMAGE))
    publishers.declare(
        subjects.job(subjects.CONTAINER_IMAGE, "build"), JOBS_STREAM, BuildJob, "Build one image."
    )
    return publishers


def create_app(settings: ImageBuilderSettings | None = None) -> FastStream:
    settings = settings or ImageBuilderSettings()
    broker = make_broker(settings.nats_url)
    broker.include_router(commands.router)
    broker.include_router(job_router(settings))
    publishers = declare_publishers(broker)
    state: dict[str, Any] = {}
    add_health(broker, SERVICE, lambda: state.get("database"))

    @contextlib.asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        slipway_logging.configure(SERVICE, settings.log_level)
        database = Database(settings.mongodb_uri, settings.database, settings.mongodb_timeout_s)
        images = Repository(
            database,
            "container_images",
            ContainerImage,
            ContainerImageAggregate,
            subjects.CONTAINER_IMAGE,
            f"/slipway/{SERVICE}",
            EVENTS_STREAM,
        )
        logs = BuildLogStore(database)

        async def setup() -> None:
            await database.ensure_indexes()
            await images.ensure_indexes()
            await logs.ensure_indexes()

        async def progress(image_id: str, lines: list[str]) -> None:
            with contextlib.suppress(Exception):  # live progress is best effort
                await broker.publish(
                    {"id": image_id, "lines": lines},
                    subjects.progress(subjects.CONTAINER_IMAGE, image_id),
                )

        await wait_for_database(database, setup)
        await connect_bus(broker)
        service = ImageService(
            settings,
            database,
            images,
            DockerEngine(settings.docker_host, settings.build_timeout_s),
            logs,
            progress,
        )
        context.set_global("images", service)
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
        background.start(
            every(settings.verify_interval_s, service.verify_built, "image verification")
        )
        log.info(
            "image-builder ready", extra={"build_roots": [str(r) for r in settings.build_roots]}
        )
        try:
            yield
        finally:
            await background.stop()
            await database.close()

    return FastStream(
        broker,
        lifespan=lifespan,
        specification=AsyncAPI(title="Slipway image-builder", version="0.1.0"),
    )
