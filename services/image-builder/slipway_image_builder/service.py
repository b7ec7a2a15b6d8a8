"""The image-builder's use cases: each loads an image, calls one domain method, saves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from slipway_contracts import subjects
from slipway_contracts.commands import BuildImage, DeleteImage, ImageSpec, RebuildImage, VerifyImage
from slipway_contracts.entities import ContainerImage, ImageStatus
from slipway_contracts.jobs import BuildJob
from slipway_contracts.queries import GetBuildLogs, GetEntity, ListEntities
from slipway_image_builder.adapters.build_logs import BuildLogStore
from slipway_image_builder.adapters.docker_engine import DockerEngine
from slipway_image_builder.domain.image import MB, BuildResult, ContainerImageAggregate, SizeLimits
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_libs import context
from slipway_libs.errors import InvalidInput, PermanentError, RetryableError
from slipway_libs.jobs import Delivery, run_entity_job
from slipway_libs.messaging import (
    JOBS_STREAM,
    CommandProcessor,
    entity_reply,
    ok,
    page_reply,
)
from slipway_libs.paths import resolve_inside, resolve_inside_roots
from slipway_libs.storage import (
    Database,
    Repository,
    UnitOfWork,
    change,
    deadline_in,
    expire_overdue,
    matching,
)

log = logging.getLogger(__name__)

Images = Repository[ContainerImageAggregate]
Progress = Callable[[str, list[str]], Awaitable[None]]


class ImageService:
    def __init__(
        self,
        settings: ImageBuilderSettings,
        database: Database,
        images: Images,
        engine: DockerEngine,
        logs: BuildLogStore,
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.database = database
        self.images = images
        self.engine = engine
        self.logs = logs
        self.progress = progress
        self.processor = CommandProcessor(database)
        self.limits = SizeLimits(
            frontend=int(settings.image_size_limit_frontend_mb * MB),
            backend=int(settings.image_size_limit_backend_mb * MB),
        )

    # --- checks ---------------------------------------------------------------

    def build_context(self, spec: ImageSpec) -> tuple[Path, str]:
        """The resolved context directory and Dockerfile path, or InvalidInput."""
        directory = resolve_inside_roots(
            spec.build.context, self.settings.build_roots, "build.context"
        )
        dockerfile = resolve_inside(directory, spec.build.dockerfile, "build.dockerfile")
        if not dockerfile.is_file():
            raise InvalidInput.field(
                "build.dockerfile", f"'{spec.build.dockerfile}' is not a file in the build context"
            )
        return directory, str(dockerfile.relative_to(directory))

    async def _queue_build(self, uow: UnitOfWork, image: ContainerImageAggregate) -> None:
        job = BuildJob(image_id=image.id, build_id=image.state.build_id)
        await uow.add_outbox(
            subject=subjects.job(subjects.CONTAINER_IMAGE, "build"),
            stream=JOBS_STREAM,
            payload=job.model_dump(),
            msg_id=job.build_id,
        )

    # --- commands -------------------------------------------------------------

    async def create(self, command: BuildImage) -> dict[str, Any]:
        self.build_context(command)

        async def action(uow: UnitOfWork) -> dict[str, Any]:
            image = ContainerImageAggregate.register(
                command,
                image_id=context.new_id(),
                build_id=context.new_id(),
                deadline=deadline_in(self.settings.build_timeout_s),
            )
            await self.images.save(uow, image)
            await self._queue_build(uow, image)
            return image.state.snapshot()

        return await self.processor.run(command, action)

    async def update(self, command: RebuildImage) -> dict[str, Any]:
        spec = ImageSpec.model_validate(command.model_dump(include=set(ImageSpec.model_fields)))
        self.build_context(spec)

        async def respecify(uow: UnitOfWork, image: ContainerImageAggregate) -> None:
            rebuild = image.respecify(
                spec,
                build_id=context.new_id(),
                deadline=deadline_in(self.settings.build_timeout_s),
            )
            await self.images.save(uow, image)
            if rebuild:
                await self._queue_build(uow, image)

        return await self.processor.run_on(command, self.images, respecify)

    async def delete(self, command: DeleteImage) -> dict[str, Any]:
        async def remove(uow: UnitOfWork, image: ContainerImageAggregate) -> None:
            image.mark_deleted()
            await self.images.save(uow, image)

        reply = await self.processor.run_on(command, self.images, remove)
        if reply["ok"]:
            await self.logs.drop(command.id)
            if command.remove_image:
                reference = f"{reply['data']['name']}:{reply['data']['tag']}"
                try:
                    await self.engine.remove(reference)
                except Exception as exc:  # the record is gone either way; say what was left
                    log.warning(
                        "engine image not removed", extra={"image": reference, "error": repr(exc)}
                    )
        return reply

    async def verify(self, command: VerifyImage) -> dict[str, Any]:
        image = await self.images.get(command.id)
        await self._verify_one(image)
        return await entity_reply(self.images, command.id)

    # --- queries --------------------------------------------------------------

    async def get(self, query: GetEntity) -> dict[str, Any]:
        return await entity_reply(self.images, query.id)

    async def list(self, query: ListEntities) -> dict[str, Any]:
        return await page_reply(self.images, query)

    async def build_log(self, query: GetBuildLogs) -> dict[str, Any]:
        image = await self.images.get(query.id)
        lines = await self.logs.read(image.id, image.state.build_id)
        return ok(
            {
                "id": image.id,
                "build_id": image.state.build_id,
                "status": image.status,
                "lines": lines,
            }
        )

    # --- jobs -----------------------------------------------------------------

    async def run_build(self, job: BuildJob, msg: Delivery, attempt: int) -> None:
        """Build one image; a job for a deleted, rebuilt or finished image changes nothing."""

        async def build(image: ContainerImageAggregate) -> None:
            result = await self._build(image.state, job.build_id)
            await change(
                self.images,
                image.id,
                lambda i: i.build_succeeded(job.build_id, result, self.limits),
            )

        await run_entity_job(
            msg,
            attempt,
            self.settings,
            self.images,
            job.image_id,
            current=lambda i: i.is_current_build(job.build_id),
            work=build,
            failed=lambda i, reason: i.build_failed(job.build_id, reason),
        )

    async def _build(self, image: ContainerImage, build_id: str) -> BuildResult:
        """Build (and push) one image, keeping its log lines as they come."""
        try:
            spec = ImageSpec.model_validate(image.model_dump(include=set(ImageSpec.model_fields)))
            directory, dockerfile = self.build_context(spec)
        except InvalidInput as exc:
            raise PermanentError(f"build context is no longer usable: {exc.message}") from exc
        loop = asyncio.get_running_loop()
        pending: list[str] = []
        written = 0

        def on_line(line: str) -> None:  # called from the engine's thread
            loop.call_soon_threadsafe(pending.append, line)

        async def flush() -> None:
            nonlocal written
            batch = pending[:]
            if not batch:
                return  # a quiet build step costs no database round trip
            del pending[: len(batch)]
            await self.logs.append(image.id, build_id, written, batch)
            written += len(batch)
            await self.progress(image.id, batch)

        async def keep_flushing() -> None:
            while True:
                await asyncio.sleep(0.5)
                await flush()

        await self.logs.restart(image.id, build_id)
        flusher = asyncio.create_task(keep_flushing())
        try:
            result = await self.engine.build(
                reference=image.reference,
                context=directory,
                dockerfile=dockerfile,
                args=image.build.args,
                on_line=on_line,
            )
            if image.repository:
                digest = await self.engine.push(
                    image.reference, image.repository, image.tag, on_line
                )
                result = replace(result, digest=digest or result.digest)
            return result
        finally:
            flusher.cancel()
            await asyncio.sleep(0)  # let the engine thread's last lines land
            await flush()

    # --- reconciliation ---------------------------------------------------------

    async def expire_overdue(self) -> int:
        """Fail every build still running past its deadline."""
        return await expire_overdue(
            self.images, ContainerImageAggregate.expire, {"status": ImageStatus.BUILDING}
        )

    async def _verify_one(self, image: ContainerImageAggregate) -> None:
        if image.state.status is ImageStatus.BUILT and image.state.image_id:
            try:
                present = await self.engine.exists(image.state.reference, image.state.image_id)
            except RetryableError:
                return  # engine down: cannot tell, keep the image as it is
            if not present:
                await change(self.images, image.id, lambda i: i.vanished())

    async def verify_built(self) -> None:
        """Move every built image that vanished from the engine to `failed`."""
        # `vanished` runs on a fresh copy (`change` reloads), so a listed one is current enough.
        for image in await matching(self.images, {"status": ImageStatus.BUILT}):
            await self._verify_one(image)
