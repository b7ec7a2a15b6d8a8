"""Pushed images pulled by the cluster: a build pushed to a real loopback registry (Debian's
docker-registry) deploys onto the simulated cluster by `<repository>@<digest>`, its node
pulls it from the registry (no image load), and a pull the registry refuses fails the
rollout with the registry's error. An image pushed with `registry_auth` to a registry
behind htpasswd is pulled with the pull Secret Slipway applies, and its password shows in
no event, API answer or log of the stack."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from tests.e2e.test_workloads import deploy, deployment_body, kube, start_cluster
from tests.events import replay
from tests.registry import Registry, running_registry
from tests.stack import Stack, wait_status
from tests.waiting import poll

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as session:
        yield session


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="module")
def cluster(client: httpx.Client) -> dict[str, Any]:
    return start_cluster(client, f"pulls-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def kubeconfig(
    client: httpx.Client, cluster: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    response = client.get(f"/api/minikube-clusters/{cluster['id']}/kubeconfig")
    assert response.status_code == 200, response.text
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(response.text)
    return path


@pytest.fixture(scope="module")
def locked_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    auth = ("slipway-puller", "pw-" + secrets.token_hex(12))
    with running_registry(tmp_path_factory.mktemp("locked-registry"), auth) as running:
        yield running


def pushed_image(
    client: httpx.Client, registry: Registry, seen: list[str] | None = None
) -> dict[str, Any]:
    name = f"pulls/app-{uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {
        "name": name,
        "tag": "1.0.0",
        "application": "backend",
        "repository": f"{registry.host}/{name}",
        "build": {"context": "hello-server"},
    }
    if registry.auth is not None:
        body["registry_auth"] = {"username": registry.auth[0], "password": registry.auth[1]}
    response = client.post("/api/container-images", json=body)
    assert response.status_code == 202, response.text
    if seen is not None:
        seen.append(response.text)
    built = wait_status(client, response.headers["Location"], {"built", "failed"}, 300)
    assert built["status"] == "built", built["reason"]
    assert built["digest"] == registry.digest(name, "1.0.0")
    return built


def pulled_messages(kubeconfig: Path, deployment: str) -> list[str] | None:
    messages = [
        event.message
        for event in pod_events(kubeconfig, "default", deployment)
        if event.reason == "Pulled"
    ]
    return messages or None


def pod_events(kubeconfig: Path, namespace: str, deployment: str) -> list[Any]:
    """The events of the Deployment's pods, as `kubectl describe pod` lists them."""
    core = k8s.CoreV1Api(kube(kubeconfig))
    return [
        event
        for event in core.list_namespaced_event(namespace).items
        if event.involved_object.kind == "Pod"
        and event.involved_object.name.startswith(f"{deployment}-")
    ]


def loaded_images(kubeconfig: Path) -> list[str]:
    """What was loaded into the simulated cluster (`minikube image ls` of loaded archives)."""
    api = kube(kubeconfig)
    request = api.param_serialize("GET", "/simulated/v1/images", auth_settings=["BearerToken"])
    response = api.call_api(*request)
    response.read()
    answer = json.loads(response.data)
    return [str(image["name"]) for image in answer["images"]]


def test_a_pushed_image_is_pulled_from_the_registry_with_no_image_load(
    client, registry, cluster, kubeconfig
):
    image = pushed_image(client, registry)
    pull_reference = f"{image['repository']}@{image['digest']}"
    created, location = deploy(client, deployment_body(cluster, image, replicas=1))
    running = wait_status(client, location, {"running", "failed"}, 120)
    assert running["status"] == "running", running["reason"]

    live = k8s.AppsV1Api(kube(kubeconfig)).read_namespaced_deployment(created["name"], "default")
    [container] = live.spec.template.spec.containers
    assert (container.image, container.image_pull_policy) == (pull_reference, "IfNotPresent")

    [message] = poll(
        lambda: pulled_messages(kubeconfig, created["name"]),
        timeout_s=30,
        what="the pod's Pulled event",
    )
    assert message.startswith(f'Successfully pulled image "{pull_reference}"'), message
    assert not any(image["name"] in name for name in loaded_images(kubeconfig))


def test_a_pushed_image_gone_from_the_registry_fails_with_the_pull_error(client, registry, cluster):
    image = pushed_image(client, registry)
    registry.delete(image["name"])
    with pytest.raises(httpx.HTTPStatusError):
        registry.digest(image["name"], "1.0.0")
    _, location = deploy(client, deployment_body(cluster, image, replicas=1))
    failed = wait_status(client, location, {"running", "failed"}, 120)
    assert failed["status"] == "failed"
    assert "ErrImagePull" in failed["reason"], failed["reason"]
    assert f"{registry.host} answered 404" in failed["reason"], failed["reason"]
    assert "MANIFEST_UNKNOWN" in failed["reason"] or "NAME_UNKNOWN" in failed["reason"]


def test_an_image_pushed_with_a_login_is_pulled_with_its_secret_never_shown(
    stack, client, locked_registry, cluster, kubeconfig
):
    assert locked_registry.auth is not None
    username, password = locked_registry.auth
    seen: list[str] = []
    image = pushed_image(client, locked_registry, seen)
    pull_reference = f"{image['repository']}@{image['digest']}"
    created, location = deploy(client, deployment_body(cluster, image, replicas=1))
    running = wait_status(client, location, {"running", "failed"}, 120)
    assert running["status"] == "running", running["reason"]

    secret_name = f"slipway-pull-{image['id'][:8]}"
    api = kube(kubeconfig)
    live = k8s.AppsV1Api(api).read_namespaced_deployment(created["name"], "default")
    assert [ref.name for ref in live.spec.template.spec.image_pull_secrets] == [secret_name]
    secret = k8s.CoreV1Api(api).read_namespaced_secret(secret_name, "default")
    assert secret.type == "kubernetes.io/dockerconfigjson"
    assert secret.metadata.labels["app.kubernetes.io/managed-by"] == "slipway"
    config = json.loads(base64.b64decode(secret.data[".dockerconfigjson"]))
    entry = config["auths"][locked_registry.host]
    assert (entry["username"], entry["password"]) == (username, password)

    [message] = poll(
        lambda: pulled_messages(kubeconfig, created["name"]),
        timeout_s=30,
        what="the pod's Pulled event",
    )
    assert message.startswith(f'Successfully pulled image "{pull_reference}"'), message

    for path in (
        f"/api/container-images/{image['id']}",
        location,
        "/api/container-images",
        "/api/deployments",
        "/api/audit",
    ):
        seen.append(client.get(path).text)
    seen.append(json.dumps(replay(stack.events_reader)))
    seen += [log.read_text(errors="replace") for log in (stack.state_dir / "logs").glob("*.log")]
    assert len(seen) > 7
    assert all(password not in text for text in seen)
