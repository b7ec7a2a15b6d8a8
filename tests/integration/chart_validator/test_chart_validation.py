"""The whole pipeline against real helm and kubernetes-validate, on the fixture charts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway_chart_validator import RuleConfig, ValidationRequest, local_tools, validate_chart
from slipway_chart_validator.adapters.helm import Helm
from slipway_chart_validator.domain.findings import Finding
from slipway_chart_validator.domain.rules import RULES

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parents[3]
FIXTURE_CHARTS = REPO / "tests" / "fixtures" / "charts"
SLIPWAY_CHART = REPO / "charts" / "slipway"


async def validate(chart: Path, name: str | None = None, **options: Any) -> list[Finding]:
    request = ValidationRequest(expected_name=name or chart.name, **options)
    return await validate_chart(local_tools(), chart, request)


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


async def test_good_chart_has_no_error_and_is_fast() -> None:
    started = time.monotonic()
    findings = await validate(FIXTURE_CHARTS / "good")
    assert errors(findings) == []
    assert time.monotonic() - started < 30


async def test_slipway_own_chart_passes_its_own_policy() -> None:
    findings = await validate(SLIPWAY_CHART)
    assert findings == []


async def test_slipway_chart_runs_every_service_with_replicas_against_external_engines(
    tmp_path: Path,
) -> None:
    rendered = await Helm().template(
        SLIPWAY_CHART, "slipway", _values_file(tmp_path, {"defaults": {"replicas": 3}}), None
    )
    assert rendered.manifests is not None
    objects = [doc for doc in yaml.safe_load_all(rendered.manifests) if doc]
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    assert sorted(deployments) == [
        f"slipway-{service}"
        for service in sorted(
            ["gateway", "image-builder", "chart-validator", "cluster-manager", "workload-manager"]
        )
    ]
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] == 2  # per-service values win over defaults
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"slipway/{name.removeprefix('slipway-')}:0.1.0"
        env = {e["name"] for e in container["env"]}
        assert {"SLIPWAY_NATS_URL", "SLIPWAY_MONGODB_URI"} <= env
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    (service,) = [o for o in objects if o["kind"] == "Service"]
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "gateway"


def _values_file(tmp_path: Path, values: dict) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


async def test_bad_policy_chart_breaks_each_rule_once_naming_resource_and_path() -> None:
    findings = await validate(FIXTURE_CHARTS / "bad-policy")
    policy = [f for f in findings if f.rule.startswith("policy.")]
    assert {f.rule for f in policy} == {rule for rule in RULES if rule.startswith("policy.")}
    assert all(f.resource and f.path and f.file for f in policy)
    assert [f for f in findings if not f.rule.startswith("policy.")] == []

    def one(rule: str, container: int = 0) -> Finding:
        prefix = f"spec.template.spec.containers[{container}]"
        matching = [f for f in policy if f.rule == rule and f.path.startswith(prefix)]
        assert len(matching) == 1, (rule, policy)
        assert matching[0].resource == "Deployment/bad-policy-web"
        return matching[0]

    web = "spec.template.spec.containers[0]"
    assert one("policy.run-as-non-root").path == f"{web}.securityContext.runAsUser"
    assert one("policy.no-privileged").path == f"{web}.securityContext.privileged"
    assert one("policy.no-privilege-escalation").path == (
        f"{web}.securityContext.allowPrivilegeEscalation"
    )
    assert one("policy.resources-requests").path == f"{web}.resources.requests"
    assert one("policy.resources-limits").path == f"{web}.resources.limits"
    assert one("policy.liveness-probe").path == f"{web}.livenessProbe"
    assert one("policy.readiness-probe").path == f"{web}.readinessProbe"
    assert one("policy.port-range").path == f"{web}.ports[0].containerPort"
    assert "latest" in one("policy.image-tag").message
    assert "no tag" in one("policy.image-tag", container=1).message
    (target,) = [f for f in policy if f.rule == "policy.service-target-port"]
    assert (target.resource, target.path) == ("Service/bad-policy-web", "spec.ports[0].targetPort")
    (selector,) = [f for f in policy if f.rule == "policy.service-selector"]
    assert selector.resource == "Service/bad-policy-orphan"


async def test_bad_syntax_chart_stops_at_template_quoting_helm() -> None:
    findings = await validate(FIXTURE_CHARTS / "bad-syntax")
    (template,) = [f for f in findings if f.rule == "helm.template"]
    assert template.severity == "error"
    assert "bad-syntax/templates/configmap.yaml:6" in template.message
    assert template.file == "templates/configmap.yaml"
    assert {f.rule for f in findings} <= {"helm.template", "helm.lint"}


async def test_bad_schema_chart_names_replicas() -> None:
    findings = await validate(FIXTURE_CHARTS / "bad-schema")
    assert [(f.rule, f.resource, f.path) for f in findings] == [
        ("schema", "Deployment/bad-schema", "spec.replicas")
    ]
    assert "'two'" in findings[0].message and "integer" in findings[0].message


async def test_values_given_by_the_client_are_used() -> None:
    findings = await validate(FIXTURE_CHARTS / "good", values={"image": {"tag": "latest"}})
    (tag,) = errors(findings)
    assert (tag.rule, tag.resource) == ("policy.image-tag", "Deployment/good")


async def test_values_reach_helm_lint_too(chart_copy) -> None:
    chart = chart_copy("good")
    (chart / "values.schema.json").write_text(
        '{"type": "object", "required": ["owner"], "properties": {"owner": {"type": "string"}}}'
    )
    failing = await validate(chart)
    lint = [f for f in errors(failing) if f.rule == "helm.lint"]
    assert lint and "owner" in lint[0].message
    assert errors(await validate(chart, values={"owner": "team-a"})) == []


async def test_rule_settings_relax_and_disable_rules() -> None:
    rules = RuleConfig.parse("policy.*=warning,policy.image-tag=off")
    findings = await validate(FIXTURE_CHARTS / "bad-policy", rules=rules)
    assert errors(findings) == []
    assert "policy.image-tag" not in {f.rule for f in findings}
    assert "policy.no-privileged" in {f.rule for f in findings}


async def test_chart_yaml_problems_are_reported_with_helm_findings(chart_copy) -> None:
    chart = chart_copy("good")
    text = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(text.replace("version: 0.1.0", "version: 0.1"))
    findings = await validate(chart, name="other")
    rules = {f.rule for f in errors(findings)}
    assert {"chart.name", "chart.version", "helm.lint"} <= rules


async def test_missing_chart_yaml(tmp_path: Path) -> None:
    findings = await validate(tmp_path, name="x")
    assert [(f.rule, f.severity) for f in findings] == [("chart.file", "error")]


async def test_unvendored_dependency_is_refused_without_fetching(chart_copy) -> None:
    chart = chart_copy("good")
    with (chart / "Chart.yaml").open("a") as chart_yaml:
        chart_yaml.write(
            "dependencies:\n  - name: redis\n    version: 19.0.0\n"
            "    repository: https://charts.bitnami.com/bitnami\n"
        )
    findings = await validate(chart)
    assert [(f.rule, f.path) for f in findings] == [("chart.dependencies", "dependencies[0]")]
    assert not (chart / "charts").exists()


async def test_vendored_dependency_is_rendered_and_checked(chart_copy) -> None:
    chart = chart_copy("good")
    (chart / "charts").mkdir()
    sub = chart_copy("bad-schema")
    sub.rename(chart / "charts" / "bad-schema")
    with (chart / "Chart.yaml").open("a") as chart_yaml:
        chart_yaml.write("dependencies:\n  - name: bad-schema\n    version: 0.1.0\n")
    findings = await validate(chart, values={"bad-schema": {"replicas": "two"}})
    (schema,) = errors(findings)
    assert (schema.rule, schema.file) == ("schema", "charts/bad-schema/templates/deployment.yaml")


async def test_kubernetes_version_is_checked_against_kubernetes_validate() -> None:
    findings = await validate(FIXTURE_CHARTS / "good", kubernetes_version="1.12")
    (version,) = errors(findings)
    assert version.rule == "schema.kubernetes-version"
    assert "'1.12'" in version.message and "1.25" in version.message
    assert errors(await validate(FIXTURE_CHARTS / "good", kubernetes_version="v1.30.2")) == []


async def test_unsupported_kubernetes_version_is_reported_even_when_rendering_fails() -> None:
    findings = await validate(FIXTURE_CHARTS / "bad-syntax", kubernetes_version="2.0")
    assert {"schema.kubernetes-version", "helm.template"} <= {f.rule for f in errors(findings)}


async def test_registered_version_must_match_chart_yaml() -> None:
    findings = await validate(FIXTURE_CHARTS / "good", expected_version="0.2.0")
    assert [(f.rule, f.path) for f in errors(findings)] == [("chart.version", "version")]


async def test_removed_api_versions_are_errors(chart_copy) -> None:
    chart = chart_copy("good")
    (chart / "templates" / "old.yaml").write_text(
        "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata:\n  name: old\nspec: {}\n"
    )
    findings = errors(await validate(chart))
    assert ("schema.unknown-kind", "Ingress/old") in {(f.rule, f.resource) for f in findings}


@pytest.mark.slow
async def test_twenty_concurrent_validations_match_sequential_runs() -> None:
    charts = [
        FIXTURE_CHARTS / name for name in ("good", "bad-policy", "bad-syntax", "bad-schema")
    ] + [SLIPWAY_CHART]
    batch = charts * 4
    sequential = [await validate(chart) for chart in batch]
    concurrent = await asyncio.gather(*(validate(chart) for chart in batch))
    assert list(concurrent) == sequential
    assert sequential[1] and sequential[0] == sequential[5]


async def test_schema_findings_never_quote_secret_values(chart_copy) -> None:
    chart = chart_copy("good")
    (chart / "templates" / "secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n"
        "stringData:\n  password:\n    nested: hunter2-secret\n"
        "type: 12345\n"
    )
    findings = errors(await validate(chart))
    (schema,) = [f for f in findings if f.resource == "Secret/creds"]
    assert schema.rule == "schema"
    assert "hunter2" not in schema.message and "12345" not in schema.message
