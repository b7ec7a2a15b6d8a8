"""The validation tools of this machine: the real helm, kubernetes-validate's schemas and
chart files on disk."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..domain.ports import HelmRunner, ValidationTools
from .chart_source import LocalChartSource
from .helm import Helm
from .schema import KubernetesSchemas

DEFAULT_UNPACKED_MAX_BYTES = 50 * 1024 * 1024


def local_tools(
    roots: Sequence[Path] = (),
    *,
    unpacked_max_bytes: int = DEFAULT_UNPACKED_MAX_BYTES,
    helm: HelmRunner | None = None,
) -> ValidationTools:
    """Tools for charts inside `roots` or unpacked from archives of at most
    `unpacked_max_bytes`; `helm` defaults to the `helm` next to the interpreter."""
    return ValidationTools(
        helm=helm or Helm(),
        schemas=KubernetesSchemas(),
        source=LocalChartSource(roots, unpacked_max_bytes),
    )
