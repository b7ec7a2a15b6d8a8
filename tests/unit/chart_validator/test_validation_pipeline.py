"""The validation pipeline's order of steps, on fake helm, schemas and chart files."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway_chart_validator.domain.findings import Finding
from slipway_chart_validator.domain.ports import ValidationTools
from slipway_chart_validator.domain.rules import RuleConfig
from slipway_chart_validator.service_layer.pipeline import (
    ValidationRequest,
    release_name_for,
    validate_chart,
    validate_chart_archive,
    validate_chart_path,
)
from slipway_libs.process import ToolUnavailable
from tests.unit.chart_validator.fakes import (
    BARE_DEPLOYMENT,
    FakeChartSource,
    FakeHelm,
    FakeSchemas,
    chart_yaml,
    packed,
)

WEB = Path("/charts/web")
REQUEST = ValidationRequest(expected_name="web", values={"replicas": 3})
TEMPLATE_ERROR = Finding("error", "helm.template", "helm template failed: parse error")


@pytest.fixture
def tools() -> ValidationTools:
    return ValidationTools(FakeHelm(), FakeSchemas(), FakeChartSource())


def rules_of(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings]


async def test_a_good_chart_is_linted_rendered_and_schema_checked(tools):
    findings = await validate_chart(tools, WEB, REQUEST)

    assert findings == []
    assert [(c.command, c.chart_dir, c.values, c.kube_version) for c in tools.helm.calls] == [
        ("lint", WEB, {"replicas": 3}, "1.32.0"),
        ("template", WEB, {"replicas": 3}, "1.32.0"),
    ]
    assert tools.helm.calls[1].release == "web"
    assert tools.schemas.validated == [["ConfigMap/web"]]


def test_the_release_is_named_after_the_chart_when_helm_accepts_the_name():
    assert release_name_for("web") == "web"
    assert release_name_for("x" * 54) == "release"
    assert release_name_for("Web") == "release"


REDIS = [{"name": "redis", "version": "1.0.0"}]


@pytest.mark.parametrize(
    ("chart", "vendored", "rules", "renders"),
    [
        (None, set(), ["chart.file"], False),
        (chart_yaml(name="api"), set(), ["chart.name"], True),
        (chart_yaml(dependencies=REDIS), set(), ["chart.dependencies"], False),
        (chart_yaml(dependencies=REDIS), {"redis"}, [], True),
    ],
    ids=["no-chart-yaml", "other-name", "missing-dependency", "vendored-dependency"],
)
async def test_chart_yaml_problems_are_found_and_fatal_ones_stop_before_helm(
    tools, chart, vendored, rules, renders
):
    tools = ValidationTools(tools.helm, tools.schemas, FakeChartSource({"web": chart}, vendored))

    findings = await validate_chart(tools, WEB, REQUEST)

    assert rules_of(findings) == rules
    assert bool(tools.helm.calls) is renders


async def test_a_template_error_stops_before_schemas_and_policy(tools):
    tools.helm.lint_findings = [Finding("warning", "helm.lint", "icon is recommended")]
    tools.helm.template_error = TEMPLATE_ERROR

    findings = await validate_chart(tools, WEB, REQUEST)

    assert findings == [TEMPLATE_ERROR, Finding("warning", "helm.lint", "icon is recommended")]
    assert tools.schemas.validated == []


async def test_an_unsupported_kubernetes_version_skips_schemas_but_not_policy(tools):
    tools.helm.manifests = BARE_DEPLOYMENT
    request = ValidationRequest(expected_name="web", kubernetes_version="banana")

    findings = await validate_chart(tools, WEB, request)

    assert "schema.kubernetes-version" in rules_of(findings)
    assert "policy.liveness-probe" in rules_of(findings)
    assert tools.schemas.validated == []
    assert {c.kube_version for c in tools.helm.calls} == {None}


async def test_the_rule_settings_downgrade_and_drop_findings(tools):
    tools.helm.manifests = BARE_DEPLOYMENT
    rules = RuleConfig.parse("policy.*=warning,policy.image-tag=off")

    findings = await validate_chart(tools, WEB, ValidationRequest("web", rules=rules))

    assert findings and {f.severity for f in findings} == {"warning"}
    assert "policy.image-tag" not in rules_of(findings)
    assert findings[0].resource == "Deployment/web"


async def test_schema_findings_are_reported(tools):
    tools.schemas.findings = [Finding("error", "schema", "spec.replicas: not an integer")]
    assert rules_of(await validate_chart(tools, WEB, REQUEST)) == ["schema"]


async def test_a_refused_path_or_archive_is_one_source_finding(tools):
    outside = await validate_chart_path(tools, "../../etc", REQUEST)
    unsafe = await validate_chart_archive(tools, b"tgz:evil", REQUEST)

    assert [(f.severity, f.rule) for f in outside + unsafe] == [("error", "chart.source")] * 2
    assert "'../../etc' does not exist" in outside[0].message
    assert "member 'evil/etc'" in unsafe[0].message
    assert tools.helm.calls == []


async def test_a_path_or_an_archive_is_validated_as_its_chart(tools):
    assert await validate_chart_path(tools, "web", REQUEST) == []
    assert await validate_chart_archive(tools, packed("web"), REQUEST) == []
    assert [c.chart_dir.name for c in tools.helm.calls] == ["web"] * 4


async def test_missing_helm_is_raised_not_reported(tools):
    tools.helm.missing = True
    with pytest.raises(ToolUnavailable):
        await validate_chart(tools, WEB, REQUEST)
