"""Request-reply handlers: one command or query in, its use case's reply out."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsRouter

from slipway_contracts import subjects
from slipway_contracts.commands import BuildImage, DeleteImage, RebuildImage, VerifyImage
from slipway_contracts.queries import GetBuildLogs, GetEntity, ListEntities
from slipway_image_builder.handlers.context import Deps
from slipway_image_builder.service_layer import builds, images, verification

router = NatsRouter()
QUEUE = "image-builder"
IMAGE = subjects.CONTAINER_IMAGE


@router.subscriber(subjects.command(IMAGE, "create"), queue=QUEUE)
async def build_image(command: BuildImage, deps: Deps) -> dict[str, Any]:
    """Register an image and queue its build."""
    return await images.build_image(deps, command)


@router.subscriber(subjects.command(IMAGE, "update"), queue=QUEUE)
async def rebuild_image(command: RebuildImage, deps: Deps) -> dict[str, Any]:
    """Replace an image's spec; a new tag or build spec rebuilds it."""
    return await images.rebuild_image(deps, command)


@router.subscriber(subjects.command(IMAGE, "delete"), queue=QUEUE)
async def delete_image(command: DeleteImage, deps: Deps) -> dict[str, Any]:
    """Remove an image record (and the engine image when asked)."""
    return await images.delete_image(deps, command)


@router.subscriber(subjects.command(IMAGE, "verify"), queue=QUEUE)
async def verify_image(command: VerifyImage, deps: Deps) -> dict[str, Any]:
    """Check that a built image still exists in the engine."""
    return await verification.verify_image(deps, command)


@router.subscriber(subjects.query(IMAGE, "get"), queue=QUEUE)
async def get_image(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await images.get_image(deps, query)


@router.subscriber(subjects.query(IMAGE, "list"), queue=QUEUE)
async def list_images(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await images.list_images(deps, query)


@router.subscriber(subjects.query(IMAGE, "logs"), queue=QUEUE)
async def build_logs(query: GetBuildLogs, deps: Deps) -> dict[str, Any]:
    return await builds.read_build_log(deps, query)
