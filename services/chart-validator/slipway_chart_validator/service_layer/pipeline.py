"""The chart validation pipeline: Chart.yaml, helm lint, helm template, schemas, policy.

It runs on `ValidationTools` (ports): `adapters.local_tools()` gives the real ones.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway_chart_validator.domain.chart_metadata import (
    check_chart_metadata,
    check_dependencies,
    parse_chart_yaml,
)
from slipway_chart_validator.domain.findings import Finding
from slipway_chart_validator.domain.kubernetes_versions import normalize_version
from slipway_chart_validator.domain.manifests import parse_rendered
from slipway_chart_validator.domain.policy import check_policy
from slipway_chart_validator.domain.ports import UnsafeArchive, UnsafeChartPath, ValidationTools
from slipway_chart_validator.domain.rules import RuleConfig

DEFAULT_KUBERNETES_VERSION = "1.32"
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class ValidationRequest:
    """What a chart is validated against.

    `values` override the chart's values.yaml, as `helm install -f` would. When
    `expected_version` is given, Chart.yaml's version must equal it. `rules` filter the
    findings (see `RuleConfig`).
    """

    expected_name: str
    values: dict[str, Any] = field(default_factory=dict)
    expected_version: str | None = None
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    rules: RuleConfig = field(default_factory=RuleConfig)


def release_name_for(chart_name: str) -> str:
    """Render as a release named after the chart, so objects get the names users expect."""
    if len(chart_name) <= 53 and _RELEASE_NAME.match(chart_name):
        return chart_name
    return "release"


async def validate_chart(
    tools: ValidationTools, chart_dir: Path, request: ValidationRequest
) -> list[Finding]:
    """Validate a chart directory; the chart is valid when no finding is an error.

    Findings come sorted (errors first, then by file, object and field) and filtered by
    the request's rules. Raises `ToolUnavailable` when helm itself cannot run: that is not
    the chart's fault and should be retried, not reported as invalid.
    """
    chart_dir = Path(chart_dir).absolute()  # never an argument helm could take for a flag
    rules = request.rules
    findings: list[Finding] = []
    unsupported_version = tools.schemas.unsupported(request.kubernetes_version)
    if unsupported_version:
        findings.append(unsupported_version)

    chart_yaml = await asyncio.to_thread(tools.source.chart_yaml, chart_dir)
    chart, problems = parse_chart_yaml(chart_yaml)
    findings += problems
    if chart is None:
        return rules.apply(findings)
    findings += check_chart_metadata(chart, request.expected_name, request.expected_version)
    vendored = await asyncio.to_thread(tools.source.vendored_charts, chart_dir)
    missing = check_dependencies(chart, vendored)
    if missing:
        return rules.apply(findings + missing)

    version = normalize_version(request.kubernetes_version)
    helm_kube_version = f"{version}.0" if version else None
    with tempfile.TemporaryDirectory(prefix="slipway-values-") as workdir:
        values_file = Path(workdir) / "values.json"  # JSON is YAML, and exact for API input
        values_file.write_text(json.dumps(request.values or {}, default=str), encoding="utf-8")
        release = release_name_for(request.expected_name)
        try:
            # lint and template are independent: run them side by side.
            async with asyncio.TaskGroup() as group:
                lint = group.create_task(tools.helm.lint(chart_dir, values_file, helm_kube_version))
                render = group.create_task(
                    tools.helm.template(chart_dir, release, values_file, helm_kube_version)
                )
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
    findings += lint.result()
    rendered = render.result()
    if rendered.error is not None:
        return rules.apply([*findings, rendered.error])

    manifests, problems = parse_rendered(rendered.manifests or "")
    findings += problems
    if not unsupported_version:
        findings += await asyncio.to_thread(
            tools.schemas.validate, manifests, request.kubernetes_version
        )
    findings += check_policy(manifests)
    return rules.apply(findings)


async def validate_chart_path(
    tools: ValidationTools, path: str, request: ValidationRequest
) -> list[Finding]:
    """Validate a chart directory given by a client; a refused path is an error finding."""
    try:
        chart_dir = await asyncio.to_thread(tools.source.resolve, path)
    except UnsafeChartPath as exc:
        return [Finding("error", "chart.source", str(exc))]
    return await validate_chart(tools, chart_dir, request)


async def validate_chart_archive(
    tools: ValidationTools, data: bytes, request: ValidationRequest
) -> list[Finding]:
    """Validate a packaged chart (.tgz bytes), unpacked safely into a temporary directory;
    a refused archive is an error finding."""
    with tempfile.TemporaryDirectory(prefix="slipway-chart-") as workdir:
        try:
            chart_dir = await asyncio.to_thread(tools.source.unpack, data, Path(workdir))
        except UnsafeArchive as exc:
            return [Finding("error", "chart.source", str(exc))]
        return await validate_chart(tools, chart_dir, request)
