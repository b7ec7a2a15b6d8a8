"""Checks of a chart's `Chart.yaml` (step 1 of validation)."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import yaml

from .findings import Finding

CHART_FILE = "Chart.yaml"

# The regular expression published with the SemVer 2.0.0 specification (semver.org).
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def is_semver(value: object) -> bool:
    return isinstance(value, str) and SEMVER.match(value) is not None


def _error(rule: str, message: str, path: str | None = None) -> Finding:
    return Finding(severity="error", rule=rule, message=message, file=CHART_FILE, path=path)


def parse_chart_yaml(text: str | None) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse Chart.yaml; `None` text means the file is missing."""
    if text is None:
        return None, [_error("chart.file", "the chart has no Chart.yaml at its root")]
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [_error("chart.file", f"Chart.yaml is not valid YAML: {exc}")]
    if not isinstance(data, dict):
        return None, [_error("chart.file", "Chart.yaml must be a YAML mapping")]
    return data, []


def check_chart_metadata(
    chart: dict[str, Any], expected_name: str, expected_version: str | None = None
) -> list[Finding]:
    """apiVersion v2, the registered name (and version), a SemVer 2.0 version, an appVersion."""
    findings: list[Finding] = []
    api_version = chart.get("apiVersion")
    if api_version != "v2":
        findings.append(
            _error(
                "chart.api-version",
                f"apiVersion must be v2 (Helm 3 charts), got {api_version!r}",
                "apiVersion",
            )
        )
    name = chart.get("name")
    if name != expected_name:
        findings.append(
            _error(
                "chart.name",
                f"name is {name!r} but the chart is registered as {expected_name!r}",
                "name",
            )
        )
    version = chart.get("version")
    if not is_semver(version):
        hint = " (quote it: YAML reads it as a number)" if isinstance(version, int | float) else ""
        findings.append(
            _error(
                "chart.version",
                f"version must be a SemVer 2.0 version such as 1.2.3, got {version!r}{hint}",
                "version",
            )
        )
    elif expected_version is not None and version != expected_version:
        findings.append(
            _error(
                "chart.version",
                f"version is {version!r} but the chart is registered as version "
                f"{expected_version!r}",
                "version",
            )
        )
    app_version = chart.get("appVersion")
    if app_version is None or str(app_version).strip() == "":
        findings.append(
            _error(
                "chart.app-version",
                "appVersion is missing: set it to the version of the application deployed",
                "appVersion",
            )
        )
    return findings


def check_dependencies(chart: dict[str, Any], vendored: Collection[str]) -> list[Finding]:
    """Every dependency must already be under charts/: validation never downloads."""
    findings: list[Finding] = []
    deps = chart.get("dependencies") or []
    if not isinstance(deps, list):
        return [_error("chart.dependencies", "dependencies must be a list", "dependencies")]
    for index, dep in enumerate(deps):
        name = dep.get("name") if isinstance(dep, dict) else None
        if not name:
            findings.append(
                _error("chart.dependencies", "dependency has no name", f"dependencies[{index}]")
            )
        elif str(name) not in vendored:
            findings.append(
                _error(
                    "chart.dependencies",
                    f"dependency {name!r} is not vendored under charts/: run "
                    f"`helm dependency build` and include charts/ (charts are never fetched)",
                    f"dependencies[{index}]",
                )
            )
    return findings
