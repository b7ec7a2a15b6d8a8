"""Commands: imperative requests that change an entity (request-reply over NATS)."""

from __future__ import annotations

from slipway_contracts.common import Model, Revision
from slipway_contracts.entities import (
    ApplicationType,
    BuildSpec,
    ImageName,
    ImageTag,
    Repository,
)


class ImageSpec(Model):
    """The client-settable fields of a ContainerImage (POST and PUT bodies)."""

    name: ImageName
    tag: ImageTag
    application: ApplicationType
    repository: Repository | None = None
    build: BuildSpec


class BuildImage(ImageSpec):
    """Register an image and build it (`slipway.container_image.cmd.create`)."""


class RebuildImage(ImageSpec):
    """Replace an image's spec; a changed tag or build spec rebuilds it (`...cmd.update`)."""

    id: str
    expected_revision: Revision | None = None


class DeleteImage(Model):
    """Remove an image record, and its engine image when asked (`...cmd.delete`)."""

    id: str
    expected_revision: Revision | None = None
    remove_image: bool = False


class VerifyImage(Model):
    """Check that a built image still exists in the engine (`...cmd.verify`)."""

    id: str


IMAGE_COMMANDS: dict[str, type[Model]] = {
    "create": BuildImage,
    "update": RebuildImage,
    "delete": DeleteImage,
    "verify": VerifyImage,
}

__all__ = [
    "IMAGE_COMMANDS",
    "BuildImage",
    "DeleteImage",
    "ImageSpec",
    "RebuildImage",
    "VerifyImage",
]
