"""Commands: imperative requests that change an entity (request-reply over NATS)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from slipway_contracts.common import DnsLabel, Model, Revision, SemVer
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


class ChartSource(Model):
    """Exactly one of: a chart directory inside a chart root, or a base64 `.tgz`."""

    path: str | None = Field(None, min_length=1, description="chart directory in a chart root")
    archive: str | None = Field(None, min_length=1, description="base64 of a packaged chart")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.path is None) == (self.archive is None):
            raise ValueError("give exactly one of 'path' or 'archive'")
        return self


class ChartSpec(Model):
    """The client-settable fields of a HelmChart (POST and PUT bodies)."""

    name: DnsLabel
    version: SemVer
    description: str = ""
    app_version: str = Field(min_length=1)
    namespace: DnsLabel = "default"
    source: ChartSource
    values: dict[str, Any] = Field(default_factory=dict, description="overrides of values.yaml")
    kubernetes_version: str = Field("1.32", description="schemas to validate against")


class RegisterChart(ChartSpec):
    """Register a chart and validate it (`slipway.helm_chart.cmd.create`)."""


class UpdateChart(ChartSpec):
    """Replace a chart's spec; every change re-validates it (`...cmd.update`)."""

    id: str
    expected_revision: Revision | None = None


class DeleteChart(Model):
    """Remove a chart record and its stored archive (`...cmd.delete`)."""

    id: str
    expected_revision: Revision | None = None


class ValidateChart(Model):
    """Validate a chart again, e.g. after its files changed on disk (`...cmd.validate`)."""

    id: str
    expected_revision: Revision | None = None


CHART_COMMANDS: dict[str, type[Model]] = {
    "create": RegisterChart,
    "update": UpdateChart,
    "delete": DeleteChart,
    "validate": ValidateChart,
}

__all__ = [
    "CHART_COMMANDS",
    "IMAGE_COMMANDS",
    "BuildImage",
    "ChartSource",
    "ChartSpec",
    "DeleteChart",
    "DeleteImage",
    "ImageSpec",
    "RebuildImage",
    "RegisterChart",
    "UpdateChart",
    "ValidateChart",
    "VerifyImage",
]
