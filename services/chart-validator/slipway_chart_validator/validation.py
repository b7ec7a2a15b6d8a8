"""The chart validation pipeline: Chart.yaml, helm lint, helm template, schemas, policy."""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .adapters.archive import UnsafeArchive, extract_chart_archive
from .adapters.chart_source import (
    UnsafeChartPath,
    read_chart_yaml,
    resolve_chart_dir,
    vendored_chart_names,
)
from .adapters.helm import Helm
from .adapters.schema import check_kubernetes_version, normalize_version, validate_manifests
from .domain.chart_metadata import check_chart_metadata, check_dependencies, parse_chart_yaml
from .domain.findings import Finding
from .domain.manifests import parse_rendered
from .domain.policy import check_policy
from .domain.rules import RuleConfig

DEFAULT_KUBERNETES_VERSION = "1.32"
_RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DEFAULT_RULES = RuleConfig()


def release_name_for(chart_name: str) -> str:
    """Render as a release named after the chart, so objects get the names users expect."""
    if len(chart_name) <= 53 and _RELEASE_NAME.match(chart_name):
        return chart_name
    return "release"


async def validate_chart(
    chart_dir: Path,
    *,
    expected_name: str,
    values: dict[str, Any],
    expected_version: str | None = None,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    rules: RuleConfig = _DEFAULT_RULES,
    helm: Helm | None = None,
) -> list[Finding]:
    """Validate a chart directory; the chart is valid when no finding is an error.

    `values` override the chart's values.yaml, as `helm install -f` would. When
    `expected_version` is given, Chart.yaml's version must equal it.

    Findings come sorted (errors first, then by file, object and field) and filtered by
    `rules`. Raises `ToolUnavailable` when helm itself cannot run: that is not the chart's
    fault and should be retried, not reported as invalid.
    """
    helm = helm or Helm()
    chart_dir = Path(chart_dir).absolute()  # never an argument helm could take for a flag
    findings: list[Finding] = []
    unsupported_version = check_kubernetes_version(kubernetes_version)
    if unsupported_version:
        findings.append(unsupported_version)

    chart, problems = parse_chart_yaml(await asyncio.to_thread(read_chart_yaml, chart_dir))
    findings += problems
    if chart is None:
        return rules.apply(findings)
    findings += check_chart_metadata(chart, expected_name, expected_version)
    missing = check_dependencies(chart, await asyncio.to_thread(vendored_chart_names, chart_dir))
    if missing:
        return rules.apply(findings + missing)

    version = normalize_version(kubernetes_version)
    helm_kube_version = f"{version}.0" if version else None
    with tempfile.TemporaryDirectory(prefix="slipway-values-") as workdir:
        values_file = Path(workdir) / "values.json"  # JSON is YAML, and exact for API input
        values_file.write_text(json.dumps(values or {}, default=str), encoding="utf-8")
        release = release_name_for(expected_name)
        try:
            # lint and template are independent: run them side by side.
            async with asyncio.TaskGroup() as group:
                lint = group.create_task(helm.lint(chart_dir, values_file, helm_kube_version))
                render = group.create_task(
                    helm.template(chart_dir, release, values_file, helm_kube_version)
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
        findings += await asyncio.to_thread(validate_manifests, manifests, kubernetes_version)
    findings += check_policy(manifests)
    return rules.apply(findings)


async def validate_chart_path(
    path: str,
    roots: Sequence[Path],
    *,
    expected_name: str,
    values: dict[str, Any],
    expected_version: str | None = None,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    rules: RuleConfig = _DEFAULT_RULES,
    helm: Helm | None = None,
) -> list[Finding]:
    """Validate a chart directory given by a client; a path outside `roots` is an error."""
    try:
        chart_dir = await asyncio.to_thread(resolve_chart_dir, path, roots)
    except UnsafeChartPath as exc:
        return [Finding("error", "chart.source", str(exc))]
    return await validate_chart(
        chart_dir,
        expected_name=expected_name,
        values=values,
        expected_version=expected_version,
        kubernetes_version=kubernetes_version,
        rules=rules,
        helm=helm,
    )


async def validate_chart_archive(
    data: bytes,
    *,
    max_bytes: int,
    expected_name: str,
    values: dict[str, Any],
    expected_version: str | None = None,
    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
    rules: RuleConfig = _DEFAULT_RULES,
    helm: Helm | None = None,
) -> list[Finding]:
    """Validate a packaged chart (.tgz bytes), unpacked safely into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="slipway-chart-") as workdir:
        try:
            chart_dir = await asyncio.to_thread(
                extract_chart_archive, data, Path(workdir), max_bytes
            )
        except UnsafeArchive as exc:
            return [Finding("error", "chart.source", str(exc))]
        return await validate_chart(
            chart_dir,
            expected_name=expected_name,
            values=values,
            expected_version=expected_version,
            kubernetes_version=kubernetes_version,
            rules=rules,
            helm=helm,
        )
