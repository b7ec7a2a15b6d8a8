"""Where an image is built from: its build context, confined to the configured roots."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from slipway_contracts.commands import ImageSpec
from slipway_libs.errors import InvalidInput
from slipway_libs.paths import resolve_inside, resolve_inside_roots


@dataclass(frozen=True)
class BuildContext:
    directory: Path
    dockerfile: str
    """The Dockerfile's path relative to `directory`."""


def resolve_build_context(spec: ImageSpec, roots: Sequence[Path]) -> BuildContext:
    """The build context of `spec` inside one of `roots`, or InvalidInput naming the field
    (`build.context` or `build.dockerfile`)."""
    directory = resolve_inside_roots(spec.build.context, roots, "build.context")
    dockerfile = resolve_inside(directory, spec.build.dockerfile, "build.dockerfile")
    if not dockerfile.is_file():
        raise InvalidInput.field(
            "build.dockerfile", f"'{spec.build.dockerfile}' is not a file in the build context"
        )
    return BuildContext(directory, str(dockerfile.relative_to(directory)))
