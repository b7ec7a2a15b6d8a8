"""What charts/slipway does for the cluster side of security, checked with the real helm and
a simulated cluster (which does not enforce RBAC, Pod Security or NetworkPolicies itself):

- the RBAC it gives the workload-manager covers every request the Kubernetes adapter makes
  (each call recorded and checked against the ClusterRole `helm template` renders);
- its NetworkPolicies let in only the gateway's port, and a worker's health port from
  its own namespace;
- `podSecurity.labelNamespace` labels the release's namespace `restricted` and keeps it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from kubernetes.client import rest

from slipway_libs.process import find_tool
from slipway_workload_manager.adapters.kubernetes import KubernetesWorkloads
from slipway_workload_manager.domain.manifests import (
    deployment_objects,
    objects_of,
    service_manifest,
)

from .conftest import MISSING_IMAGE, Cluster, deployment_entity, service_entity, until

CHART = Path(__file__).resolve().parents[3] / "charts" / "slipway"


@dataclass(frozen=True)
class Request:
    """One API request as RBAC sees it."""

    verb: str
    group: str
    resource: str
    path: str


def as_request(method: str, url: str) -> Request | None:
    """The RBAC verb, API group and resource of a request; None for a discovery path."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if segments[0] == "api":
        group, rest_of = "", segments[2:]
    else:
        group, rest_of = segments[1], segments[3:]
    if not rest_of:
        return None  # the group version's discovery document
    if rest_of[0] == "namespaces" and len(rest_of) > 2:
        rest_of = rest_of[2:]  # a namespaced resource: /namespaces/<ns>/<resource>/...
    named = len(rest_of) > 1
    watching = parse_qs(parts.query).get("watch", [""])[0].lower() == "true"
    verb = {
        "GET": "watch" if watching else ("get" if named else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete",
    }[method.upper()]
    return Request(verb, group, rest_of[0], parts.path)


def allowed(request: Request, rules: list[dict[str, Any]]) -> bool:
    return any(
        request.group in rule.get("apiGroups", [])
        and request.resource in rule.get("resources", [])
        and request.verb in rule.get("verbs", [])
        for rule in rules
    )


def helm(*args: str) -> str:
    shown = subprocess.run(
        [str(find_tool("helm")), *args], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def rendered(*args: str) -> list[dict[str, Any]]:
    """The objects `helm template` renders of the chart, with these extra arguments."""
    shown = helm("template", "slipway", str(CHART), "-n", "slipway", *args)
    return [document for document in yaml.safe_load_all(shown) if document]


def rendered_rules() -> dict[str, list[dict[str, Any]]]:
    """The rules of the chart's ClusterRole and Roles, by kind."""
    documents = rendered("--set", "rbac.releaseNamespaces={demo}", "-s", "templates/rbac.yaml")
    return {d["kind"]: d["rules"] for d in documents if d["kind"] in ("ClusterRole", "Role")}


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Every (method, URL) the official client sends while the test runs (from any thread)."""
    calls: list[tuple[str, str]] = []
    send = rest.RESTClientObject.request

    def request(self: rest.RESTClientObject, method: str, url: str, *args: Any, **kw: Any) -> Any:
        calls.append((method, url))
        return send(self, method, url, *args, **kw)

    monkeypatch.setattr(rest.RESTClientObject, "request", request)
    yield calls


async def test_the_workload_managers_cluster_role_allows_every_call_it_makes(
    cluster: Cluster, recorded: list[tuple[str, str]]
) -> None:
    rules = rendered_rules()
    workloads = KubernetesWorkloads()
    access = cluster.access
    namespace = f"ns-{cluster.namespace()}"
    earlier = f"ns-{cluster.namespace()}"  # Slipway's, from before the labels
    cluster.core.create_namespace(
        {"metadata": {"name": earlier, "labels": {"app.kubernetes.io/managed-by": "slipway"}}}
    )
    healthy = deployment_entity(namespace, replicas=1)
    broken = deployment_entity(namespace, name="broken", image=MISSING_IMAGE, replicas=1)
    try:
        # A rollout, a failing one explained by its pods, a Service, the reconcile
        # loop's listings, a preview's read, and the deletes.
        await workloads.ensure_namespace(access, namespace)
        await workloads.ensure_namespace(access, earlier)
        for entity in (healthy, broken):
            for manifest in deployment_objects(entity, entity.image or ""):
                await workloads.apply(access, manifest)
        await workloads.apply(access, service_manifest(service_entity(healthy), healthy))
        await workloads.wait_deployment(access, namespace, "web", 30)
        await workloads.wait_deployment(access, namespace, "broken", 1)  # watched, in vain
        await until(
            lambda: asyncio.to_thread(cluster.core.list_namespaced_pod, namespace),
            lambda pods: len(pods.items) == 2,
            what="the pods of both Deployments",
        )
        await workloads.observe_deployment(access, namespace, "broken")
        await workloads.observe_service(access, namespace, "web")
        for kind in ("Deployment", "Service", "NetworkPolicy", "ServiceAccount"):
            await workloads.managed(access, kind)
        await workloads.read_object(access, "apps/v1", "Deployment", namespace, "web")
        await workloads.delete(access, "Service", namespace, "web")
        for entity in (healthy, broken):
            for kind, name in objects_of("Deployment", entity.name):
                await workloads.delete(access, kind, namespace, name)
    finally:
        workloads.close()

    requests = [as_request(method, url) for method, url in recorded]
    made = {r for r in requests if r is not None}
    refused = sorted(
        {(r.verb, r.group, r.resource) for r in made if not allowed(r, rules["ClusterRole"])}
    )
    assert refused == []
    # The calls that matter were made (the recording is not empty by accident).
    seen = {(r.verb, r.resource) for r in made}
    assert {
        ("patch", "namespaces"),
        ("create", "namespaces"),
        ("watch", "deployments"),
        ("patch", "networkpolicies"),
        ("delete", "serviceaccounts"),
        ("list", "events"),
        ("list", "pods"),
        ("get", "endpoints"),
    } <= seen
    # No Secret is touched outside helm's release namespaces.
    assert not any(r.resource == "secrets" for r in made)
    assert allowed(Request("update", "", "secrets", ""), rules["Role"])
    assert not allowed(Request("get", "", "secrets", ""), rules["ClusterRole"])


def test_the_workload_manager_runs_under_its_own_account_bound_to_its_roles() -> None:
    objects = rendered("--set", "rbac.releaseNamespaces={demo,shop}")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for body in objects:
        by_kind.setdefault(body["kind"], []).append(body)
    accounts = {
        body["metadata"]["name"]: body["spec"]["template"]["spec"]["serviceAccountName"]
        for body in by_kind["Deployment"]
    }
    subject = {"kind": "ServiceAccount", "name": "slipway-workload-manager", "namespace": "slipway"}

    assert accounts.pop("slipway-workload-manager") == "slipway-workload-manager"
    assert set(accounts.values()) == {"slipway"}  # the others have no role at all
    [binding] = by_kind["ClusterRoleBinding"]
    assert binding["subjects"] == [subject]
    assert binding["roleRef"]["name"] == "slipway:slipway-workload-manager"
    assert {
        (b["metadata"]["namespace"], b["subjects"][0]["name"]) for b in by_kind["RoleBinding"]
    } == {
        ("demo", "slipway-workload-manager"),
        ("shop", "slipway-workload-manager"),
    }
    wm_account = next(
        a for a in by_kind["ServiceAccount"] if a["metadata"]["name"] == "slipway-workload-manager"
    )
    assert wm_account["automountServiceAccountToken"] is False


def test_the_network_policies_let_in_only_the_gateways_port_and_the_workers_health_and_metrics() -> (
    None
):
    policies = {
        body["metadata"]["name"]: body["spec"]
        for body in rendered("-s", "templates/networkpolicy.yaml")
    }
    port = [{"port": "http", "protocol": "TCP"}]

    assert set(policies) == {
        f"slipway-{service}"
        for service in (
            "gateway",
            "image-builder",
            "chart-validator",
            "cluster-manager",
            "workload-manager",
        )
    }
    gateway = policies.pop("slipway-gateway")
    assert gateway["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
    assert gateway["policyTypes"] == ["Ingress"]  # egress open by default
    assert gateway["ingress"] == [{"ports": port}]  # from anywhere
    for name, worker in policies.items():
        component = name.removeprefix("slipway-")
        assert worker["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        # /healthz on `http`, and /metrics (Prometheus in the namespace) on `metrics`
        worker_ports = [*port, {"port": "metrics", "protocol": "TCP"}]
        assert worker["ingress"] == [{"ports": worker_ports, "from": [{"podSelector": {}}]}]
        assert worker["policyTypes"] == ["Ingress"]


def test_restricted_egress_keeps_dns_and_adds_the_given_rules() -> None:
    nats = {"ports": [{"port": 4222, "protocol": "TCP"}]}
    [gateway] = [
        body["spec"]
        for body in rendered(
            "-s",
            "templates/networkpolicy.yaml",
            "--set-json",
            f"networkPolicy.egress=[{json.dumps(nats)}]",
        )
        if body["metadata"]["name"] == "slipway-gateway"
    ]

    assert gateway["policyTypes"] == ["Ingress", "Egress"]
    dns, given = gateway["egress"]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}
    assert given == nats


def test_the_release_namespace_is_labelled_restricted_when_asked_and_kept(
    cluster: Cluster, tmp_path: Path
) -> None:
    namespace = cluster.namespace()  # made before, as --take-ownership needs
    kubeconfig = ["--kubeconfig", str(cluster.kubeconfig)]
    options = ["-n", namespace, "--set", "podSecurity.labelNamespace=true", *kubeconfig]

    helm("install", "slipway", str(CHART), "--take-ownership", *options)
    labels = cluster.core.read_namespace(namespace).metadata.labels
    helm("uninstall", "slipway", "-n", namespace, *kubeconfig)

    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert cluster.core.read_namespace(namespace).status.phase == "Active"
    assert "Namespace" not in {body["kind"] for body in rendered()}  # not by default
