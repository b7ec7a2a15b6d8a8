"""Reaching the simulated cluster: kubeconfig, token auth, kubectl, discovery, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.integration.simcluster.conftest import (
    RunningCluster,
    deployment_body,
    kubectl,
    needs_kubectl,
)
from tests.waiting import poll


def test_kubeconfig_names_one_cluster_user_and_context(cluster: RunningCluster) -> None:
    document = yaml.safe_load(cluster.kubeconfig.read_text())

    assert document["current-context"] == "sim-test"
    assert [c["name"] for c in document["contexts"]] == ["sim-test"]
    server = document["clusters"][0]["cluster"]["server"]
    assert server == f"https://127.0.0.1:{cluster.process.port}"
    assert document["users"][0]["user"]["token"]
    assert cluster.kubeconfig.stat().st_mode & 0o077 == 0, "the token is readable by its owner only"


@needs_kubectl
def test_kubectl_gets_namespaces_and_nodes(cluster: RunningCluster, tmp_path: Path) -> None:
    namespaces = kubectl(cluster, tmp_path, "get", "ns")
    names = kubectl(cluster, tmp_path, "get", "ns", "-o", "name")
    nodes = kubectl(cluster, tmp_path, "get", "nodes", "-o", "json")

    assert namespaces.returncode == 0, namespaces.stderr
    assert "default" in namespaces.stdout and "Active" in namespaces.stdout
    assert {"namespace/default", "namespace/kube-system"} <= set(names.stdout.split())
    node = json.loads(nodes.stdout)["items"][0]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.32.0"


@needs_kubectl
def test_kubectl_gets_and_deletes_a_deployment(cluster: RunningCluster, tmp_path: Path) -> None:
    namespace = cluster.namespace()
    cluster.apps.create_namespaced_deployment(namespace, deployment_body("shop", replicas=2))
    poll(
        lambda: (
            cluster.apps.read_namespaced_deployment("shop", namespace).status.available_replicas
            == 2
        ),
        what="2 available replicas",
    )

    listed = kubectl(cluster, tmp_path, "get", "deployments", "-n", namespace)
    deleted = kubectl(cluster, tmp_path, "delete", "deployment", "shop", "-n", namespace)

    assert listed.returncode == 0, listed.stderr
    assert "shop" in listed.stdout and "2/2" in listed.stdout
    assert deleted.returncode == 0, deleted.stderr
    assert 'deployment.apps "shop" deleted' in deleted.stdout
    poll(
        lambda: not cluster.core.list_namespaced_pod(namespace).items,
        what="the deployment's pods to go",
    )


@needs_kubectl
def test_kubectl_applies_manifests(cluster: RunningCluster, tmp_path: Path) -> None:
    namespace = cluster.namespace()
    manifest = tmp_path / "shop.yaml"
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "shop"},
        "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    manifest.write_text(yaml.safe_dump_all([deployment_body("shop", replicas=1), service]))

    applied = kubectl(cluster, tmp_path, "apply", "-n", namespace, "-f", str(manifest))
    again = kubectl(cluster, tmp_path, "apply", "-n", namespace, "-f", str(manifest))

    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/shop created" in applied.stdout
    assert "service/shop created" in applied.stdout
    assert "deployment.apps/shop unchanged" in again.stdout
    assert cluster.core.read_namespaced_service("shop", namespace).spec.cluster_ip


def test_python_client_lists_namespaces(cluster: RunningCluster) -> None:
    names = {ns.metadata.name for ns in cluster.core.list_namespace().items}

    assert {"default", "kube-system"} <= names


def test_wrong_token_is_rejected_with_401_status(cluster: RunningCluster) -> None:
    configuration = k8s.Configuration()
    configuration.host = cluster.api.configuration.host
    configuration.ssl_ca_cert = cluster.api.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": "Bearer not-the-token"}
    with k8s.ApiClient(configuration) as intruder, pytest.raises(ApiException) as raised:
        k8s.CoreV1Api(intruder).list_namespace()

    assert raised.value.status == 401
    status = json.loads(raised.value.body)
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Unauthorized", 401)


def test_version_health_and_discovery(cluster: RunningCluster) -> None:
    version = k8s.VersionApi(cluster.api).get_code()
    groups = k8s.ApisApi(cluster.api).get_api_versions()
    apps = k8s.AppsV1Api(cluster.api).get_api_resources()
    core = k8s.CoreV1Api(cluster.api).get_api_resources()
    with cluster.http(token=None) as anonymous, cluster.http(token="wrong") as intruder:
        ready = anonymous.get("/readyz")
        refused = intruder.get("/version")

    assert (version.git_version, version.major, version.minor) == ("v1.32.0", "1", "32")
    assert {"apps", "batch", "policy", "networking.k8s.io", "rbac.authorization.k8s.io"} <= {
        g.name for g in groups.groups
    }
    assert {"deployments", "deployments/scale", "deployments/status"} <= {
        r.name for r in apps.resources
    }
    assert {"namespaces", "pods", "services", "endpoints", "events", "secrets"} <= {
        r.name for r in core.resources
    }
    assert (ready.status_code, ready.text) == (200, "ok"), "health needs no credentials"
    assert refused.status_code == 401, "but wrong credentials are refused everywhere"


def test_unknown_paths_and_objects_answer_404_status(cluster: RunningCluster) -> None:
    with cluster.http() as http:
        unknown = http.get("/apis/apps/v1/namespaces/default/widgets")
        unknown_group = http.get("/apis/widgets.example.com/v1/widgets")
    with pytest.raises(ApiException) as missing:
        cluster.apps.read_namespaced_deployment("does-not-exist", "default")

    assert unknown.status_code == 404 and unknown.json()["kind"] == "Status"
    assert unknown_group.status_code == 404 and unknown_group.json()["reason"] == "NotFound"
    assert missing.value.status == 404
    assert (
        json.loads(missing.value.body)["message"] == 'deployments.apps "does-not-exist" not found'
    )
