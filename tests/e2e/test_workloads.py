"""Deployments and Services end to end: REST in, a real image build, a simulated cluster
started by the cluster-manager, rollouts by the workload-manager, events out."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from slipway_contracts import subjects
from tests.events import replay
from tests.stack import Stack, wait_status
from tests.waiting import poll

pytestmark = pytest.mark.slow
PROBLEM = "application/problem+json"
CONCURRENT = 200


def engine(stack: Stack) -> docker.DockerClient:
    return (
        docker.DockerClient(base_url=stack.docker_host) if stack.docker_host else docker.from_env()
    )


def build_image(client: httpx.Client, name: str) -> dict[str, Any]:
    body = {
        "name": name,
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": "hello-server"},
    }
    response = client.post("/api/container-images", json=body)
    assert response.status_code == 202, response.text
    built = wait_status(client, response.headers["Location"], {"built", "failed"}, 300)
    assert built["status"] == "built", built["reason"]
    return built


def start_cluster(client: httpx.Client, name: str) -> dict[str, Any]:
    body = {"name": name, "driver": "sim", "cpus": 1, "memory": 1024, "disk_size": 1000}
    response = client.post("/api/minikube-clusters", json=body)
    assert response.status_code in (201, 202), response.text
    location = f"/api/minikube-clusters/{response.json()['id']}"
    if response.json()["status"] != "running":
        client.post(f"{location}/start")
    running = wait_status(client, location, {"running", "error"}, 120)
    assert running["status"] == "running", running.get("reason")
    return running


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as session:
        yield session


@pytest.fixture(scope="module")
def image(client: httpx.Client) -> dict[str, Any]:
    return build_image(client, f"e2e/web-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def cluster(client: httpx.Client) -> dict[str, Any]:
    return start_cluster(client, f"local-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def kubeconfig(
    client: httpx.Client, cluster: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    response = client.get(f"/api/minikube-clusters/{cluster['id']}/kubeconfig")
    assert response.status_code == 200, response.text
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(response.text)
    return path


def kube(kubeconfig: Path) -> k8s.ApiClient:
    configuration = k8s.Configuration()
    k8s_config.load_kube_config_from_dict(
        yaml.safe_load(kubeconfig.read_text()), client_configuration=configuration
    )
    return k8s.ApiClient(configuration)


def apps(kubeconfig: Path) -> k8s.AppsV1Api:
    return k8s.AppsV1Api(kube(kubeconfig))


def deployment_body(cluster: dict[str, Any], image: dict[str, Any], **overrides: Any):
    body = {
        "name": f"web-{uuid.uuid4().hex[:6]}",
        "namespace": "default",
        "cluster_id": cluster["id"],
        "image_id": image["id"],
        "replicas": 3,
        "container_port": 8080,
        "progress_deadline_seconds": 20,
    }
    return {**body, **overrides}


def deploy(client: httpx.Client, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    response = client.post("/api/deployments", json=body)
    assert response.status_code == 202, response.text
    return response.json(), response.headers["Location"]


def fields_of(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == PROBLEM
    return [error["field"] for error in response.json()["errors"]]


def test_a_built_image_rolls_out_pending_then_running_with_the_safety_defaults(
    client, image, cluster, kubeconfig
):
    created, location = deploy(client, deployment_body(cluster, image))
    assert created["status"] == "pending"
    running = wait_status(client, location, {"running", "failed"}, 60)
    assert running["status"] == "running", running["reason"]
    assert running["available_replicas"] == 3
    live = apps(kubeconfig).read_namespaced_deployment(created["name"], "default")
    assert live.status.available_replicas == 3
    pod, container = live.spec.template.spec, live.spec.template.spec.containers[0]
    assert pod.security_context.run_as_non_root is True
    assert container.security_context.allow_privilege_escalation is False
    assert container.resources.limits and container.resources.requests
    assert container.liveness_probe and container.readiness_probe
    # Its pods run under an account of their own, with no API token, behind a policy.
    assert pod.service_account_name == f"{created['name']}-sa"
    assert pod.automount_service_account_token is False
    core = k8s.CoreV1Api(kube(kubeconfig))
    account = core.read_namespaced_service_account(f"{created['name']}-sa", "default")
    assert account.automount_service_account_token is False
    policy = k8s.NetworkingV1Api(kube(kubeconfig)).read_namespaced_network_policy(
        created["name"], "default"
    )
    assert policy.spec.pod_selector.match_labels == {"slipway.io/id": created["id"]}
    assert policy.spec.policy_types == ["Ingress"]
    assert {(p.protocol, p.port) for p in policy.spec.ingress[0].ports} == {
        ("TCP", 8080),
        ("UDP", 8080),
    }
    # "default" is not Slipway's: its labels are left as they are.
    labels = core.read_namespace("default").metadata.labels or {}
    assert "pod-security.kubernetes.io/enforce" not in labels


def test_an_image_that_was_never_built_is_a_422_naming_the_image(client, cluster):
    body = {
        "name": "ghost",
        "cluster_id": cluster["id"],
        "image": "nosuch/image:1.0",
        "container_port": 8080,
    }
    response = client.post("/api/deployments", json=body)
    assert response.status_code == 422
    assert fields_of(response) == ["image"]
    assert "is not a built ContainerImage" in response.json()["detail"]


def test_an_image_removed_from_the_engine_fails_with_the_load_error(client, cluster, stack):
    doomed = build_image(client, f"e2e/doomed-{uuid.uuid4().hex[:8]}")
    engine(stack).images.remove(f"{doomed['name']}:1.0.0", force=True)
    _, location = deploy(client, deployment_body(cluster, doomed, replicas=1))
    failed = wait_status(client, location, {"running", "failed"}, 60)
    assert failed["status"] == "failed"
    # The load finds the image gone, unless the image-builder's periodic verification failed
    # the image first: then the rollout refuses it, naming why.
    assert failed["reason"].startswith("image load failed") or (
        "no longer exists in the Docker Engine" in failed["reason"]
    ), failed["reason"]


def test_scaling_goes_updating_then_running_and_bad_counts_are_422(client, image, cluster):
    _, location = deploy(client, deployment_body(cluster, image, replicas=2))
    wait_status(client, location, {"running"}, 60)
    scaled = client.post(f"{location}/scale", json={"replicas": 5})
    assert scaled.status_code == 202, scaled.text
    assert scaled.json()["status"] == "updating"
    running = wait_status(client, location, {"running", "failed"}, 60)
    assert (running["status"], running["available_replicas"]) == ("running", 5)
    for replicas in (0, -1):
        refused = client.post(f"{location}/scale", json={"replicas": replicas})
        assert refused.status_code == 422
        assert fields_of(refused) == ["replicas"]


def test_a_service_must_target_the_container_port_and_a_matching_one_is_active(
    client, image, cluster
):
    created, location = deploy(client, deployment_body(cluster, image, replicas=2))
    wait_status(client, location, {"running"}, 60)
    body = {"name": created["name"], "deployment_id": created["id"], "port": 80}
    wrong = client.post("/api/services", json={**body, "target_port": 9090})
    assert wrong.status_code == 422
    assert fields_of(wrong) == ["target_port"]
    response = client.post("/api/services", json={**body, "target_port": 8080})
    assert response.status_code == 202, response.text
    active = wait_status(client, response.headers["Location"], {"active", "failed"}, 60)
    assert active["status"] == "active", active["reason"]
    assert len(active["endpoints"]) == 2


def test_anti_affinity_shows_in_the_clusters_deployment_and_a_put_rolls_its_removal_out(
    client, image, cluster, kubeconfig
):
    host = "kubernetes.io/hostname"
    required_weight = {"pod_anti_affinity": [{"topology_key": host, "required": True, "weight": 5}]}
    refused = client.post(
        "/api/deployments", json=deployment_body(cluster, image, placement=required_weight)
    )
    assert refused.status_code == 422
    assert fields_of(refused) == ["placement.pod_anti_affinity.0.weight"]
    assert "a required term takes no weight" in refused.json()["detail"]

    placement = {"pod_anti_affinity": [{"topology_key": host}]}
    body = deployment_body(cluster, image, replicas=2, placement=placement)
    created, location = deploy(client, body)
    running = wait_status(client, location, {"running", "failed"}, 60)
    assert running["status"] == "running", running["reason"]
    assert running["placement"]["pod_anti_affinity"] == [
        {"topology_key": host, "match_labels": None, "required": False, "weight": 100}
    ]
    pod = apps(kubeconfig).read_namespaced_deployment(created["name"], "default").spec.template.spec
    [preferred] = (
        pod.affinity.pod_anti_affinity.preferred_during_scheduling_ignored_during_execution
    )
    assert preferred.weight == 100
    assert preferred.pod_affinity_term.topology_key == host
    assert preferred.pod_affinity_term.label_selector.match_labels == {
        "slipway.io/id": created["id"]
    }
    [spread] = pod.topology_spread_constraints  # the default: over the nodes, as a preference
    assert (spread.topology_key, spread.max_skew, spread.when_unsatisfiable) == (
        host,
        1,
        "ScheduleAnyway",
    )

    replaced = client.put(location, json={**body, "placement": {"topology_spread": []}})
    assert replaced.status_code == 202, replaced.text
    assert replaced.json()["status"] == "updating"
    running = wait_status(client, location, {"running", "failed"}, 60)
    assert running["status"] == "running", running["reason"]
    pod = apps(kubeconfig).read_namespaced_deployment(created["name"], "default").spec.template.spec
    assert pod.affinity is None and pod.topology_spread_constraints is None


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_deleting_the_deployment_with_kubectl_is_reported_as_drift(
    client, image, cluster, kubeconfig
):
    created, location = deploy(client, deployment_body(cluster, image, replicas=1))
    wait_status(client, location, {"running"}, 60)
    deleted = subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "delete", "deployment", created["name"]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert deleted.returncode == 0, deleted.stderr
    drifted = poll(
        lambda: (found := client.get(location).json()).get("drift") and found,
        timeout_s=30,
        what="drift",
    )
    assert drifted["drift"] == f"Deployment default/{created['name']} was deleted outside Slipway"
    assert drifted["status"] == "failed"
    repaired = client.post(f"{location}/repair")
    assert repaired.status_code == 202, repaired.text
    back = wait_status(client, location, {"running"}, 60)
    assert back["drift"] is None


def test_stopping_the_cluster_is_reported_and_starting_it_brings_deployments_back(client, image):
    other = start_cluster(client, f"other-{uuid.uuid4().hex[:6]}")
    cluster_location = f"/api/minikube-clusters/{other['id']}"
    _, location = deploy(client, deployment_body(other, image, replicas=1))
    wait_status(client, location, {"running"}, 60)
    assert client.post(f"{cluster_location}/stop").status_code == 202
    wait_status(client, cluster_location, {"stopped"}, 60)
    stopped = wait_status(client, location, {"failed"}, 30)
    assert stopped["reason"] == f"cluster '{other['name']}' is stopped"
    assert client.post(f"{cluster_location}/start").status_code == 202
    wait_status(client, cluster_location, {"running"}, 120)
    back = wait_status(client, location, {"running"}, 60)
    assert back["reason"] is None


def test_two_hundred_concurrent_deployments_all_run_with_one_running_event_each(
    client, image, cluster, stack, record_property, kubeconfig
):
    namespace = f"load-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()

    def create(index: int) -> str:
        body = deployment_body(
            cluster, image, name=f"app-{index:03d}", namespace=namespace, replicas=1
        )
        response = client.post("/api/deployments", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    with ThreadPoolExecutor(max_workers=32) as pool:
        ids = set(pool.map(create, range(CONCURRENT)))
    assert len(ids) == CONCURRENT

    def all_running() -> bool:
        running: set[str] = set()
        cursor = None
        while True:
            params = {"status": "running", "limit": 500, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/deployments", params=params).json()
            running |= {d["id"] for d in page["items"]}
            cursor = page["next_cursor"]
            if not cursor:
                return ids <= running

    poll(all_running, timeout_s=240, interval_s=0.5, what=f"{CONCURRENT} deployments running")
    record_property("all_running_s", round(time.monotonic() - started, 1))
    counts: dict[str, int] = {}
    for _, event in replay(stack.events_reader, subjects.event(subjects.DEPLOYMENT, "running")):
        counts[event["subject"]] = counts.get(event["subject"], 0) + 1
    assert {i: counts.get(i, 0) for i in ids} == dict.fromkeys(ids, 1)
    # Slipway made their namespace: restricted pod security, and each its NetworkPolicy.
    labels = k8s.CoreV1Api(kube(kubeconfig)).read_namespace(namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    policies = k8s.NetworkingV1Api(kube(kubeconfig)).list_namespaced_network_policy(namespace)
    assert {p.spec.pod_selector.match_labels["slipway.io/id"] for p in policies.items} == ids
