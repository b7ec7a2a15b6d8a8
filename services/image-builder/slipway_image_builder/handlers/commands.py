"""Request-reply handlers: one command or query in, the service's reply out."""

from __future__ import annotations

from typing import Annotated, Any

from faststream import Context
from faststream.nats import NatsRouter

from slipway_contracts import subjects
from slipway_contracts.commands import BuildImage, DeleteImage, RebuildImage, VerifyImage
from slipway_contracts.queries import GetBuildLogs, GetEntity, ListEntities
from slipway_image_builder.service import ImageService

router = NatsRouter()
QUEUE = "image-builder"
Images = Annotated[ImageService, Context("images")]
IMAGE = subjects.CONTAINER_IMAGE


@router.subscriber(subjects.command(IMAGE, "create"), queue=QUEUE)
async def build_image(command: BuildImage, images: Images) -> dict[str, Any]:
    """Register an image and queue its build."""
    return await images.create(command)


@router.subscriber(subjects.command(IMAGE, "update"), queue=QUEUE)
async def rebuild_image(command: RebuildImage, images: Images) -> dict[str, Any]:
    """Replace an image's spec; a new tag or build spec rebuilds it."""
    return await images.update(command)


@router.subscriber(subjects.command(IMAGE, "delete"), queue=QUEUE)
async def delete_image(command: DeleteImage, images: Images) -> dict[str, Any]:
    """Remove an image record (and the engine image when asked)."""
    return await images.delete(command)


@router.subscriber(subjects.command(IMAGE, "verify"), queue=QUEUE)
async def verify_image(command: VerifyImage, images: Images) -> dict[str, Any]:
    """Check that a built image still exists in the engine."""
    return await images.verify(command)


@router.subscriber(subjects.query(IMAGE, "get"), queue=QUEUE)
async def get_image(query: GetEntity, images: Images) -> dict[str, Any]:
    return await images.get(query)


@router.subscriber(subjects.query(IMAGE, "list"), queue=QUEUE)
async def list_images(query: ListEntities, images: Images) -> dict[str, Any]:
    return await images.list(query)


@router.subscriber(subjects.query(IMAGE, "logs"), queue=QUEUE)
async def build_logs(query: GetBuildLogs, images: Images) -> dict[str, Any]:
    return await images.build_log(query)
