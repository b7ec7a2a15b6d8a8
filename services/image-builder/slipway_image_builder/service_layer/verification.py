"""Verification: a built image whose reference no longer names it in the engine fails (on
request, and periodically for every built image)."""

from __future__ import annotations

from functools import partial
from typing import Any

from slipway_contracts.commands import VerifyImage
from slipway_contracts.entities import ImageStatus
from slipway_image_builder.domain.image import ContainerImageAggregate
from slipway_image_builder.service_layer.dependencies import Dependencies
from slipway_libs.errors import RetryableError
from slipway_libs.unit_of_work import ok, retrying


async def verify_image(deps: Dependencies, command: VerifyImage) -> dict[str, Any]:
    """Check one image against the engine now; answer with the image as it then is."""
    await verify(deps, await deps.images.get(command.id))
    return ok((await deps.images.get(command.id)).snapshot())


async def verify_built_images(deps: Dependencies) -> None:
    """Move every built image that vanished from the engine to `failed`."""
    for image in await deps.images.matching(status=ImageStatus.BUILT):
        await verify(deps, image)


async def verify(deps: Dependencies, image: ContainerImageAggregate) -> None:
    """Fail `image` when it is built and gone from the engine (an engine that cannot be
    reached tells nothing: the image stays as it is)."""
    if image.status != ImageStatus.BUILT or not image.state.image_id:
        return
    try:
        present = await deps.engine.exists(image.state.reference, image.state.image_id)
    except RetryableError:
        return
    if not present:
        await retrying(partial(_record_vanished, deps, image.id))


async def _record_vanished(deps: Dependencies, image_id: str) -> None:
    async with deps.uow:
        image = await deps.images.find(image_id)
        if image is not None and image.vanished():
            await deps.uow.commit()
