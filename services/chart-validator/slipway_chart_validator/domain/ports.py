"""The ports of the chart validator: what the use cases need from helm, the Kubernetes
schemas, the chart files and the archive store. `adapters/` implements them for real; unit
tests implement them with small fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from .findings import Finding
from .manifests import Manifest


class UnsafeArchive(ValueError):
    """The archive is refused; `member` names the offending entry and `rule` the check."""

    def __init__(self, rule: str, message: str, member: str | None = None) -> None:
        where = f"member {member!r}: " if member is not None else ""
        super().__init__(f"unsafe chart archive: {where}{message} [{rule}]")
        self.rule = rule
        self.member = member


class UnsafeChartPath(ValueError):
    """The chart directory is refused; `rule` names the check it failed."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{message} [{rule}]")
        self.rule = rule


@dataclass(frozen=True)
class RenderResult:
    """`manifests` is helm's output when rendering succeeded, else `error` says why."""

    manifests: str | None
    error: Finding | None


class HelmRunner(Protocol):
    """helm, run offline. Raises `ToolUnavailable` when helm itself cannot run (not the
    chart's fault: the job is retried); a timeout is a finding."""

    async def lint(
        self, chart_dir: Path, values_file: Path, kube_version: str | None
    ) -> list[Finding]:
        """Findings of `helm lint --strict` with the given values."""
        ...

    async def template(
        self, chart_dir: Path, release_name: str, values_file: Path, kube_version: str | None
    ) -> RenderResult:
        """Render the chart as `helm template` would for an install of `release_name`."""
        ...


class SchemaValidator(Protocol):
    """The Kubernetes API schemas of the supported versions."""

    def unsupported(self, kubernetes_version: str) -> Finding | None:
        """An error finding when the schemas of that version are not available."""
        ...

    def validate(self, manifests: Sequence[Manifest], kubernetes_version: str) -> list[Finding]:
        """Schema findings for every object (blocking: run it in a worker thread)."""
        ...


class ChartSource(Protocol):
    """Chart files on disk: directories inside the chart roots, or unpacked archives. Every
    method blocks: run it in a worker thread."""

    def resolve(self, path: str) -> Path:
        """The real chart directory for `path`; UnsafeChartPath when it is refused."""
        ...

    def unpack(self, data: bytes, into: Path) -> Path:
        """Unpack a .tgz chart into `into` and return the chart directory; UnsafeArchive
        when the archive is refused (nothing is written then)."""
        ...

    def chart_yaml(self, chart_dir: Path) -> str | None:
        """The text of the chart's `Chart.yaml`, or None when there is none."""
        ...

    def vendored_charts(self, chart_dir: Path) -> set[str]:
        """Names of the subcharts present under the chart's `charts/`."""
        ...


class ArchiveStore(Protocol):
    """Uploaded chart archives, readable by every replica of the service."""

    async def put(self, archive_id: str, filename: str, data: bytes) -> None:
        """Store one archive under `archive_id` (Unavailable when the store is down)."""
        ...

    async def read(self, archive_id: str) -> bytes:
        """The archive's bytes; PermanentError when it is gone."""
        ...

    async def drop(self, archive_id: str) -> None:
        """Remove an archive (best effort: an orphan is harmless, the sweep finds it)."""
        ...

    def stored_before(self, cutoff: datetime, batch: int = 500) -> AsyncIterator[list[str]]:
        """Ids of the archives uploaded before `cutoff`, oldest first, `batch` at a time."""
        ...


@dataclass(frozen=True)
class ValidationTools:
    """What the validation pipeline runs on."""

    helm: HelmRunner
    schemas: SchemaValidator
    source: ChartSource
