"""Chart.yaml checks: apiVersion, name, SemVer 2.0 version, appVersion, vendored dependencies."""

from __future__ import annotations

from typing import Any

import pytest

from slipway_chart_validator.domain.chart_metadata import (
    check_chart_metadata,
    check_dependencies,
    is_semver,
    parse_chart_yaml,
)

GOOD: dict[str, Any] = {"apiVersion": "v2", "name": "web", "version": "1.2.3", "appVersion": "2.0"}


def rules(chart: dict[str, Any], expected_name: str = "web") -> list[str]:
    return [f.rule for f in check_chart_metadata(chart, expected_name)]


def test_a_good_chart_yaml_has_no_findings() -> None:
    assert rules(GOOD) == []


def test_api_version_must_be_v2() -> None:
    findings = check_chart_metadata({**GOOD, "apiVersion": "v1"}, "web")
    assert [(f.rule, f.file, f.path) for f in findings] == [
        ("chart.api-version", "Chart.yaml", "apiVersion")
    ]
    assert "'v1'" in findings[0].message


def test_name_must_match_the_registered_name() -> None:
    findings = check_chart_metadata(GOOD, "api")
    assert [f.rule for f in findings] == ["chart.name"]
    assert "'web'" in findings[0].message and "'api'" in findings[0].message


@pytest.mark.parametrize(
    "version", ["1.2.3", "0.0.0", "1.0.0-rc.1", "1.0.0+build.5", "1.0.0-alpha.beta+exp.sha.5114f85"]
)
def test_semver_versions_are_accepted(version: str) -> None:
    assert is_semver(version)
    assert rules({**GOOD, "version": version}) == []


@pytest.mark.parametrize("version", ["1.2", "v1.2.3", "01.2.3", "1.2.3-", "latest", "", None, 1.2])
def test_other_versions_are_refused(version: object) -> None:
    findings = check_chart_metadata({**GOOD, "version": version}, "web")
    assert [f.rule for f in findings] == ["chart.version"]
    assert findings[0].path == "version"


def test_a_numeric_version_gets_a_quoting_hint() -> None:
    (finding,) = check_chart_metadata({**GOOD, "version": 0.1}, "web")
    assert "quote it" in finding.message


@pytest.mark.parametrize("app_version", [None, "", "  "])
def test_app_version_must_be_present(app_version: object) -> None:
    chart = {**GOOD, "appVersion": app_version}
    if app_version is None:
        del chart["appVersion"]
    assert rules(chart) == ["chart.app-version"]


def test_everything_wrong_reports_every_rule() -> None:
    assert rules({}, "web") == [
        "chart.api-version",
        "chart.name",
        "chart.version",
        "chart.app-version",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "no Chart.yaml"),
        ("name: [unclosed", "not valid YAML"),
        ("- a list", "must be a YAML mapping"),
    ],
)
def test_unreadable_chart_yaml(text: str | None, message: str) -> None:
    chart, findings = parse_chart_yaml(text)
    assert chart is None
    assert [f.rule for f in findings] == ["chart.file"]
    assert message in findings[0].message


def test_dependencies_must_be_vendored() -> None:
    chart = {
        **GOOD,
        "dependencies": [
            {"name": "redis", "version": "1.0.0", "repository": "https://charts.example.com"},
            {"name": "common", "version": "2.0.0", "repository": "file://../common"},
        ],
    }
    findings = check_dependencies(chart, vendored={"common"})
    assert [(f.rule, f.path) for f in findings] == [("chart.dependencies", "dependencies[0]")]
    assert "'redis'" in findings[0].message and "never fetched" in findings[0].message
    assert check_dependencies(chart, vendored={"redis", "common"}) == []
    assert check_dependencies(GOOD, vendored=set()) == []


def test_version_must_match_the_registered_version_when_given() -> None:
    assert check_chart_metadata(GOOD, "web", "1.2.3") == []
    (finding,) = check_chart_metadata(GOOD, "web", "1.2.4")
    assert finding.rule == "chart.version"
    assert "'1.2.3'" in finding.message and "'1.2.4'" in finding.message
