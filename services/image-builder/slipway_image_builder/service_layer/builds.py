"""Builds: the build job (build, push when a repository is set, its log kept and published
live; a scan queued once built), its terminal failure, the deadline sweep, and the kept build log."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from slipway_contracts.entities import ContainerImage, ImageStatus
from slipway_contracts.jobs import BuildJob
from slipway_contracts.queries import GetBuildLogs
from slipway_image_builder.domain.image import MB, BuildResult, SizeLimits, spec_of
from slipway_image_builder.service_layer.build_context import resolve_build_context
from slipway_image_builder.service_layer.dependencies import Dependencies
from slipway_image_builder.service_layer.scans import queue_scan
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_libs import context
from slipway_libs.errors import InvalidInput, PermanentError
from slipway_libs.progress import ProgressBuffer
from slipway_libs.unit_of_work import expire_overdue, ok, retrying

PROGRESS_INTERVAL_S = 0.5


def size_limits(settings: ImageBuilderSettings) -> SizeLimits:
    """The configured image size limits, in bytes."""
    return SizeLimits(
        frontend=int(settings.image_size_limit_frontend_mb * MB),
        backend=int(settings.image_size_limit_backend_mb * MB),
    )


async def run_build(deps: Dependencies, job: BuildJob) -> None:
    """Build the image of `job` and record the outcome; a job for a deleted, rebuilt or
    finished image changes nothing."""
    image = await deps.images.find(job.image_id)
    if image is None or not image.is_current_build(job.build_id):
        return
    result = await build_and_push(deps, image.state, job.build_id)
    await retrying(partial(_record_build, deps, job, result))


async def _record_build(deps: Dependencies, job: BuildJob, result: BuildResult) -> None:
    async with deps.uow:
        image = await deps.images.find(job.image_id)
        if image is not None:
            scan_id = context.new_id()
            image.build_succeeded(job.build_id, result, size_limits(deps.settings), scan_id=scan_id)
            if image.awaits_scan(scan_id):
                queue_scan(deps.uow, image)
            await deps.uow.commit()


async def give_up_build(deps: Dependencies, job: BuildJob, reason: str) -> None:
    """The build failed for good: the image fails with `reason` (if it still waits for it)."""
    await retrying(partial(_record_failure, deps, job, reason))


async def _record_failure(deps: Dependencies, job: BuildJob, reason: str) -> None:
    async with deps.uow:
        image = await deps.images.find(job.image_id)
        if image is not None:
            image.build_failed(job.build_id, reason)
            await deps.uow.commit()


@dataclass
class BuildLogWriter:
    """Keeps the lines of one build attempt in the build log, numbered in order, and
    publishes them as live progress."""

    deps: Dependencies
    image_id: str
    build_id: str
    written: int = 0

    async def keep(self, lines: list[str]) -> None:
        await self.deps.logs.append(self.image_id, self.build_id, self.written, lines)
        self.written += len(lines)
        await self.deps.progress.publish(self.image_id, lines)


async def build_and_push(deps: Dependencies, image: ContainerImage, build_id: str) -> BuildResult:
    """Build (and push) one image, its log lines kept and published as they come."""
    try:
        where = resolve_build_context(spec_of(image), deps.settings.build_roots)
    except InvalidInput as exc:
        raise PermanentError(f"build context is no longer usable: {exc.message}") from exc
    await deps.logs.restart(image.id, build_id)
    writer = BuildLogWriter(deps, image.id, build_id)
    async with ProgressBuffer(writer.keep, PROGRESS_INTERVAL_S) as lines:
        result = await deps.engine.build(
            reference=image.reference,
            context=where.directory,
            dockerfile=where.dockerfile,
            args=image.build.args,
            on_line=lines.add_threadsafe,
        )
        if image.repository:
            login = await deps.registry_credentials.read(image.id)
            digest = await deps.engine.push(
                image.reference, image.repository, image.tag, lines.add_threadsafe, login
            )
            result = replace(result, digest=digest or result.digest)
    return result


async def fail_overdue_builds(deps: Dependencies) -> int:
    """Fail every build still running past its deadline; how many."""
    return await expire_overdue(deps.uow, deps.images, status=ImageStatus.BUILDING)


async def read_build_log(deps: Dependencies, query: GetBuildLogs) -> dict[str, Any]:
    """The kept log of an image's current build attempt."""
    image = await deps.images.get(query.id)
    lines = await deps.logs.read(image.id, image.state.build_id, query.from_line)
    return ok(
        {
            "id": image.id,
            "build_id": image.state.build_id,
            "status": image.status,
            "reason": image.state.reason,
            "from_line": query.from_line,
            "lines": lines,
        }
    )
