"""Small fakes of the chart validator's ports (domain/ports.py): no helm, no MongoDB."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from slipway_chart_validator.domain.findings import Finding
from slipway_chart_validator.domain.kubernetes_versions import normalize_version
from slipway_chart_validator.domain.manifests import Manifest
from slipway_chart_validator.domain.ports import RenderResult, UnsafeArchive, UnsafeChartPath
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import PermanentError
from slipway_libs.process import ToolUnavailable

CONFIG_MAP = """---
# Source: web/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
data:
  greeting: hello
"""

# A Deployment whose container has no probes, limits or security context.
BARE_DEPLOYMENT = """---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: web:1.0.0
"""


def chart_yaml(name: str = "web", version: str = "1.0.0", **more: Any) -> str:
    return json.dumps(
        {"apiVersion": "v2", "name": name, "version": version, "appVersion": "1"} | more
    )


@dataclass
class HelmCall:
    command: str
    chart_dir: Path
    values: dict[str, Any]
    kube_version: str | None
    release: str | None = None


@dataclass
class FakeHelm:
    """Answers lint with `lint_findings` and template with `manifests` (or `template_error`);
    raises ToolUnavailable when `missing`. Records every call with the values it got."""

    lint_findings: list[Finding] = field(default_factory=list)
    manifests: str = CONFIG_MAP
    template_error: Finding | None = None
    missing: bool = False
    calls: list[HelmCall] = field(default_factory=list)

    def _called(self, call: HelmCall) -> None:
        if self.missing:
            raise ToolUnavailable("helm was not found")
        self.calls.append(call)

    async def lint(
        self, chart_dir: Path, values_file: Path, kube_version: str | None
    ) -> list[Finding]:
        values = json.loads(values_file.read_text())
        self._called(HelmCall("lint", chart_dir, values, kube_version))
        return list(self.lint_findings)

    async def template(
        self, chart_dir: Path, release_name: str, values_file: Path, kube_version: str | None
    ) -> RenderResult:
        values = json.loads(values_file.read_text())
        self._called(HelmCall("template", chart_dir, values, kube_version, release_name))
        if self.template_error is not None:
            return RenderResult(None, self.template_error)
        return RenderResult(self.manifests, None)


@dataclass
class FakeSchemas:
    """Knows Kubernetes 1.31 and 1.32; reports `findings` for any manifests."""

    findings: list[Finding] = field(default_factory=list)
    validated: list[list[str]] = field(default_factory=list)

    def unsupported(self, kubernetes_version: str) -> Finding | None:
        if normalize_version(kubernetes_version) in ("1.31", "1.32"):
            return None
        return Finding("error", "schema.kubernetes-version", f"{kubernetes_version} unknown")

    def validate(self, manifests: Sequence[Manifest], kubernetes_version: str) -> list[Finding]:
        self.validated.append([m.resource for m in manifests])
        return list(self.findings)


def packed(chart: str) -> bytes:
    """The bytes FakeChartSource unpacks as chart `chart`."""
    return b"tgz:" + chart.encode()


@dataclass
class FakeChartSource:
    """Charts by directory name: their Chart.yaml text and vendored subcharts. A path is
    its last part; archives are the bytes of `packed(name)`, anything else is unsafe."""

    charts: dict[str, str | None] = field(default_factory=lambda: {"web": chart_yaml()})
    vendored: set[str] = field(default_factory=set)

    def resolve(self, path: str) -> Path:
        name = Path(path).name
        if name not in self.charts:
            raise UnsafeChartPath("not-found", f"chart path {path!r} does not exist")
        return Path("/charts") / name

    def unpack(self, data: bytes, into: Path) -> Path:
        name = data.removeprefix(b"tgz:").decode(errors="replace")
        if not data.startswith(b"tgz:") or name not in self.charts:
            raise UnsafeArchive("link", "links are not allowed", f"{name}/etc")
        return into / name

    def chart_yaml(self, chart_dir: Path) -> str | None:
        return self.charts.get(chart_dir.name)

    def vendored_charts(self, chart_dir: Path) -> set[str]:
        return set(self.vendored)


@dataclass
class FakeArchiveStore:
    """Archives in a dict, with the time each was stored."""

    files: dict[str, tuple[bytes, datetime]] = field(default_factory=dict)

    async def put(self, archive_id: str, filename: str, data: bytes) -> None:
        self.files[archive_id] = (data, utcnow())

    async def read(self, archive_id: str) -> bytes:
        if archive_id not in self.files:
            raise PermanentError(f"the chart archive '{archive_id}' is no longer stored")
        return self.files[archive_id][0]

    async def drop(self, archive_id: str) -> None:
        self.files.pop(archive_id, None)

    async def stored_before(self, cutoff: datetime, batch: int = 500) -> AsyncIterator[list[str]]:
        old = [
            i for stored, i in sorted((s, i) for i, (_, s) in self.files.items()) if stored < cutoff
        ]
        for start in range(0, len(old), batch):
            yield old[start : start + batch]
