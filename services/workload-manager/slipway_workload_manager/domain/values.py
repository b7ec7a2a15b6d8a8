"""A release's helm values: what the user gave, with each image's reference set at its
values path (pure).

A values path is dotted (`backend.image`): each part but the last names a mapping of the
values, made when missing; the last part gets the image's `name:tag`, replacing whatever
the values or the chart's defaults had there.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from slipway_libs.errors import InvalidInput


def image_field(path: str) -> str:
    """How an error names the release field of the image at `path`."""
    return f"images.{path}"


def set_at_path(values: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at the dotted `path` of `values` (in place), making the mappings on the
    way; InvalidInput naming `images.<path>` when a part on the way is not a mapping."""
    *parents, leaf = path.split(".")
    node = values
    for depth, key in enumerate(parents, start=1):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            where = ".".join(parents[:depth])
            raise InvalidInput.field(
                image_field(path),
                f"the values hold a {type(child).__name__} at '{where}', not a mapping: "
                "the image reference cannot be set inside it",
            )
        node = child
    node[leaf] = value


def values_with_images(values: Mapping[str, Any], references: Mapping[str, str]) -> dict[str, Any]:
    """A copy of `values` with each image reference (values path -> `name:tag`) set at its
    path; shorter paths first, so that an image set inside another one's path is refused."""
    merged = copy.deepcopy(dict(values))
    for path in sorted(references, key=lambda p: (p.count("."), p)):
        set_at_path(merged, path, references[path])
    return merged
