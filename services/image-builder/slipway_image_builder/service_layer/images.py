"""Image records: register one (its build queued), respecify it (a rebuild when needed),
delete it; read one or a page."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slipway_contracts import subjects
from slipway_contracts.commands import BuildImage, DeleteImage, ImageSpec, RebuildImage
from slipway_contracts.jobs import BuildJob
from slipway_contracts.queries import GetEntity, GetPullSecret, ListEntities, PullSecretAnswer
from slipway_image_builder.domain.image import ContainerImageAggregate, spec_of
from slipway_image_builder.domain.ports import RegistryLogin
from slipway_image_builder.service_layer.build_context import resolve_build_context
from slipway_image_builder.service_layer.dependencies import Dependencies
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.messaging import entity_reply, page_reply
from slipway_libs.unit_of_work import UnitOfWork, check_if_match, idempotent, ok

log = logging.getLogger(__name__)

BUILD_JOB = subjects.job(subjects.CONTAINER_IMAGE, "build")


def build_deadline(settings: ImageBuilderSettings) -> datetime:
    """When a build queued now must be over."""
    return utcnow() + timedelta(seconds=settings.build_timeout_s)


def queue_build(uow: UnitOfWork, image: ContainerImageAggregate) -> None:
    """Queue the image's current build (one job per build id)."""
    job = BuildJob(image_id=image.id, build_id=image.state.build_id)
    uow.queue_job(BUILD_JOB, job, msg_id=job.build_id)


async def keep_registry_login(deps: Dependencies, image_id: str, spec: ImageSpec) -> None:
    """Seal the spec's registry credentials beside the image (a spec without: forget them)."""
    if spec.registry_auth is None:
        await deps.registry_credentials.forget(image_id)
        return
    login = RegistryLogin(spec.registry_auth.username, spec.registry_auth.password)
    await deps.registry_credentials.keep(image_id, login)


@idempotent
async def build_image(deps: Dependencies, command: BuildImage) -> dict[str, Any]:
    """Register an image, `building`, and queue its first build."""
    resolve_build_context(command, deps.settings.build_roots)
    async with deps.uow:
        image = ContainerImageAggregate.register(
            command,
            image_id=context.new_id(),
            build_id=context.new_id(),
            deadline=build_deadline(deps.settings),
        )
        deps.images.add(image)
        await keep_registry_login(deps, image.id, command)
        queue_build(deps.uow, image)
        return await deps.uow.commit(answer=image.snapshot())


@idempotent
async def rebuild_image(deps: Dependencies, command: RebuildImage) -> dict[str, Any]:
    """Replace an image's spec; a changed name, tag or build spec queues a rebuild."""
    spec = spec_of(command)
    resolve_build_context(spec, deps.settings.build_roots)
    async with deps.uow:
        image = await deps.images.get(command.id)
        check_if_match(image, command.expected_revision)
        deadline = build_deadline(deps.settings)
        if image.respecify(spec, build_id=context.new_id(), deadline=deadline):
            queue_build(deps.uow, image)
        await keep_registry_login(deps, image.id, spec)
        return await deps.uow.commit(answer=image.snapshot())


async def delete_image(deps: Dependencies, command: DeleteImage) -> dict[str, Any]:
    """Remove an image record, then its build logs and, when asked, its engine image."""
    reply = await _delete_record(deps, command)
    await deps.logs.drop(command.id)
    await deps.sboms.drop(command.id)
    if command.remove_image:
        await _remove_from_engine(deps, f"{reply['data']['name']}:{reply['data']['tag']}")
    return reply


@idempotent
async def _delete_record(deps: Dependencies, command: DeleteImage) -> dict[str, Any]:
    async with deps.uow:
        image = await deps.images.get(command.id)
        check_if_match(image, command.expected_revision)
        image.mark_deleted()
        await deps.registry_credentials.forget(image.id)
        return await deps.uow.commit(answer=image.snapshot())


async def _remove_from_engine(deps: Dependencies, reference: str) -> None:
    try:
        await deps.engine.remove(reference)
    except Exception as exc:  # the record is gone either way; say what was left
        log.warning("engine image not removed", extra={"image": reference, "error": repr(exc)})


# slipway_libs.messaging annotates the MongoDB Repository; every Repository port answers.
async def get_image(deps: Dependencies, query: GetEntity) -> dict[str, Any]:
    """One image (NotFound when there is none)."""
    return await entity_reply(deps.images, query.id)


async def list_images(deps: Dependencies, query: ListEntities) -> dict[str, Any]:
    """One page of images, oldest first, optionally of one status."""
    return await page_reply(deps.images, query)


def registry_host(repository: str) -> str:
    """The registry a repository lives in, as Docker reads it: the first path component
    when it names a host (a dot, a port or `localhost`), else Docker Hub."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return "https://index.docker.io/v1/"


async def pull_secret(deps: Dependencies, query: GetPullSecret) -> dict[str, Any]:
    """The registry login a cluster pulls the image with ("none": the image has none).
    Only the workload-manager may ask (NATS permissions); the answer is never logged."""
    image = await deps.images.get(query.id)
    login = await deps.registry_credentials.read(image.id) if image.state.repository else None
    if login is None or not image.state.repository:
        return ok(PullSecretAnswer(id=image.id, credentials="none").model_dump())
    answer = PullSecretAnswer(
        id=image.id,
        credentials="basic",
        registry=registry_host(image.state.repository),
        username=login.username,
        password=login.password,
    )
    return ok(answer.model_dump())
