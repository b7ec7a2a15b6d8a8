"""Policy rules over rendered manifests given as plain dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from slipway_chart_validator.domain.findings import Finding
from slipway_chart_validator.domain.manifests import Manifest
from slipway_chart_validator.domain.policy import check_policy, image_tag_problem

COMPLIANT_CONTAINER: dict[str, Any] = {
    "name": "web",
    "image": "registry.example.com/web:1.2.3",
    "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    "resources": {
        "requests": {"cpu": "50m", "memory": "64Mi"},
        "limits": {"cpu": "100m", "memory": "128Mi"},
    },
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
    "ports": [{"name": "http", "containerPort": 8080}],
}


def container(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(COMPLIANT_CONTAINER)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def workload(
    kind: str = "Deployment",
    *,
    containers: list[dict[str, Any]] | None = None,
    pod_security: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    name: str = "web",
    **pod_fields: Any,
) -> Manifest:
    pod_spec: dict[str, Any] = {"containers": containers or [container()], **pod_fields}
    if pod_security is not None:
        pod_spec["securityContext"] = pod_security
    labels = labels or {"app": name}
    if kind == "Pod":
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}}
        body["spec"] = pod_spec
    else:
        template = {"metadata": {"labels": labels}, "spec": pod_spec}
        spec: dict[str, Any] = {"template": template}
        if kind == "CronJob":
            spec = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
        body = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    return Manifest(body, "templates/workload.yaml")


def service(
    selector: dict[str, str] | None = None, ports: list[dict[str, Any]] | None = None
) -> Manifest:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"} if selector is None else selector,
            "ports": ports or [{"port": 80, "targetPort": "http"}],
        },
    }
    return Manifest(body, "templates/service.yaml")


def rules_of(findings: list[Finding]) -> list[str]:
    return sorted(f.rule for f in findings)


def only(findings: list[Finding], rule: str) -> Finding:
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


CONTAINER_PATH = "spec.template.spec.containers[0]"


def test_compliant_workload_and_service_have_no_findings() -> None:
    assert check_policy([workload(), service()]) == []


@pytest.mark.parametrize(
    "kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"]
)
def test_every_workload_kind_is_checked(kind: str) -> None:
    findings = check_policy([workload(kind, containers=[container(image="nginx")])])
    finding = only(findings, "policy.image-tag")
    assert finding.resource == f"{kind}/web"


def test_cronjob_paths_point_into_the_job_template() -> None:
    findings = check_policy([workload("CronJob", containers=[container(image="nginx")])])
    assert only(findings, "policy.image-tag").path == (
        "spec.jobTemplate.spec.template.spec.containers[0].image"
    )


def test_finding_names_file_resource_path_and_container() -> None:
    findings = check_policy([workload(containers=[container(securityContext={})])])
    finding = only(findings, "policy.run-as-non-root")
    assert finding.severity == "error"
    assert finding.file == "templates/workload.yaml"
    assert finding.resource == "Deployment/web"
    assert finding.path == f"{CONTAINER_PATH}.securityContext.runAsNonRoot"
    assert "'web'" in finding.message


@pytest.mark.parametrize(
    ("pod_security", "container_security", "allowed"),
    [
        ({"runAsNonRoot": True}, {}, True),
        ({}, {"runAsNonRoot": True}, True),
        ({"runAsUser": 1000}, {}, True),
        ({}, {"runAsUser": 1000}, True),
        ({}, {}, False),
        ({"runAsNonRoot": True}, {"runAsNonRoot": False}, False),
        ({"runAsNonRoot": True}, {"runAsUser": 0}, False),
        ({"runAsUser": 0}, {}, False),
        ({"runAsUser": 0}, {"runAsUser": 1000}, True),
    ],
)
def test_run_as_non_root(
    pod_security: dict[str, Any], container_security: dict[str, Any], allowed: bool
) -> None:
    security = {"allowPrivilegeEscalation": False, **container_security}
    manifest = workload(containers=[container(securityContext=security)], pod_security=pod_security)
    found = [f for f in check_policy([manifest]) if f.rule == "policy.run-as-non-root"]
    assert (not found) == allowed


def test_root_uid_on_the_pod_points_at_the_pod_security_context() -> None:
    security = {"allowPrivilegeEscalation": False}
    manifest = workload(
        containers=[container(securityContext=security)], pod_security={"runAsUser": 0}
    )
    finding = only(check_policy([manifest]), "policy.run-as-non-root")
    assert finding.path == "spec.template.spec.securityContext.runAsUser"
    assert "root" in finding.message


def test_privileged_container() -> None:
    security = {**COMPLIANT_CONTAINER["securityContext"], "privileged": True}
    finding = only(
        check_policy([workload(containers=[container(securityContext=security)])]),
        "policy.no-privileged",
    )
    assert finding.path == f"{CONTAINER_PATH}.securityContext.privileged"


@pytest.mark.parametrize("setting", [True, None])
def test_privilege_escalation_must_be_switched_off_explicitly(setting: bool | None) -> None:
    security: dict[str, Any] = {"runAsNonRoot": True}
    if setting is not None:
        security["allowPrivilegeEscalation"] = setting
    finding = only(
        check_policy([workload(containers=[container(securityContext=security)])]),
        "policy.no-privilege-escalation",
    )
    assert finding.path == f"{CONTAINER_PATH}.securityContext.allowPrivilegeEscalation"


def test_missing_requests_and_limits() -> None:
    findings = check_policy([workload(containers=[container(resources=None)])])
    requests = only(findings, "policy.resources-requests")
    limits = only(findings, "policy.resources-limits")
    assert requests.path == f"{CONTAINER_PATH}.resources.requests"
    assert "cpu and memory" in requests.message
    assert limits.path == f"{CONTAINER_PATH}.resources.limits"


def test_only_memory_limit_missing_points_at_memory() -> None:
    resources = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}}
    findings = check_policy([workload(containers=[container(resources=resources)])])
    assert rules_of(findings) == ["policy.resources-limits"]
    assert findings[0].path == f"{CONTAINER_PATH}.resources.limits.memory"


def test_missing_probes() -> None:
    manifest = workload(containers=[container(livenessProbe=None, readinessProbe=None)])
    findings = check_policy([manifest])
    assert only(findings, "policy.liveness-probe").path == f"{CONTAINER_PATH}.livenessProbe"
    assert only(findings, "policy.readiness-probe").path == f"{CONTAINER_PATH}.readinessProbe"


@pytest.mark.parametrize(
    ("kind", "pod_fields"),
    [("Job", {}), ("CronJob", {}), ("Pod", {"restartPolicy": "Never"})],
)
def test_run_to_completion_workloads_need_no_probes(kind: str, pod_fields: dict[str, Any]) -> None:
    manifest = workload(
        kind, containers=[container(livenessProbe=None, readinessProbe=None)], **pod_fields
    )
    assert check_policy([manifest]) == []


def test_init_containers_need_no_probes_but_follow_security_rules() -> None:
    init = container(name="migrate", livenessProbe=None, readinessProbe=None, image="busybox")
    findings = check_policy([workload(initContainers=[init])])
    assert rules_of(findings) == ["policy.image-tag"]
    assert findings[0].path == "spec.template.spec.initContainers[0].image"
    assert "init container 'migrate'" in findings[0].message


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("nginx:1.27.3", True),
        ("registry.example.com:5000/team/app:2.0.0", True),
        ("nginx@sha256:" + "a" * 64, True),
        ("nginx:1.27@sha256:" + "a" * 64, True),
        ("nginx", False),
        ("nginx:latest", False),
        ("registry.example.com:5000/team/app", False),
        ("", False),
        (None, False),
    ],
)
def test_image_tags(image: str | None, pinned: bool) -> None:
    assert (image_tag_problem(image) is None) == pinned


def test_one_finding_per_rule_per_container() -> None:
    bare = {"name": "a", "image": "nginx"}
    findings = check_policy([workload(containers=[bare, {**bare, "name": "b"}])])
    per_container = {(f.rule, f.path.split(".")[3]) for f in findings if f.path}
    assert len(per_container) == len(findings)
    assert len(findings) == 2 * 7  # every container rule but no-privileged


@pytest.mark.parametrize("port", [0, 70000, -1])
def test_container_port_out_of_range(port: int) -> None:
    manifest = workload(containers=[container(ports=[{"name": "http", "containerPort": port}])])
    finding = only(check_policy([manifest, service()]), "policy.port-range")
    assert finding.path == f"{CONTAINER_PATH}.ports[0].containerPort"
    assert str(port) in finding.message


def test_service_port_out_of_range() -> None:
    findings = check_policy([workload(), service(ports=[{"port": 80000, "targetPort": 8080}])])
    finding = only(findings, "policy.port-range")
    assert (finding.resource, finding.path) == ("Service/web", "spec.ports[0].port")


@pytest.mark.parametrize(
    ("port", "matches"),
    [
        ({"port": 80, "targetPort": "http"}, True),
        ({"port": 80, "targetPort": 8080}, True),
        ({"port": 8080}, True),  # targetPort defaults to port
        ({"port": 80, "targetPort": "metrics"}, False),
        ({"port": 80, "targetPort": 9090}, False),
        ({"port": 80}, False),
    ],
)
def test_service_target_port(port: dict[str, Any], matches: bool) -> None:
    findings = check_policy([workload(), service(ports=[port])])
    if matches:
        assert findings == []
    else:
        finding = only(findings, "policy.service-target-port")
        assert finding.resource == "Service/web"
        key = "targetPort" if "targetPort" in port else "port"
        assert finding.path == f"spec.ports[0].{key}"
        assert "Deployment/web" in finding.message


def test_target_port_must_exist_in_every_selected_workload() -> None:
    other = workload(
        name="web-canary",
        labels={"app": "web"},
        containers=[container(ports=[{"name": "web", "containerPort": 9000}])],
    )
    finding = only(check_policy([workload(), other, service()]), "policy.service-target-port")
    assert "Deployment/web-canary" in finding.message
    assert "Deployment/web " not in finding.message


def test_service_selecting_no_workload_is_a_warning() -> None:
    findings = check_policy([workload(), service(selector={"app": "other"})])
    finding = only(findings, "policy.service-selector")
    assert finding.severity == "warning"
    assert finding.path == "spec.selector"


def test_service_without_selector_is_not_checked() -> None:
    assert check_policy([workload(), service(selector={}, ports=[{"port": 1}])]) == []


def test_other_kinds_are_ignored() -> None:
    config = Manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    assert check_policy([config]) == []


def test_malformed_fields_do_not_crash_the_policy() -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "odd"},
        "spec": {"template": {"spec": {"containers": ["not-a-mapping", {"ports": "x"}]}}},
    }
    findings = check_policy([Manifest(body)])
    assert {
        f.path.split(".securityContext")[0] for f in findings if "securityContext" in f.path
    } == {"spec.template.spec.containers[1]"}
