"""The simulated node pulls images named with a loopback registry host from that registry
(Debian's docker-registry, behind htpasswd auth), with the pod's `imagePullSecrets`, as a
real kubelet does; without them the pull fails with the registry's answer."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from tests.integration.simcluster.conftest import RunningCluster
from tests.registry import Registry, running_registry
from tests.waiting import poll

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
AUTH = ("sim-puller", "pw-" + secrets.token_hex(8))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry"), AUTH) as running:
        yield running


def push(registry: Registry, name: str, tag: str) -> str:
    """An image (a config and one layer) pushed over the Registry HTTP API; its digest."""
    base = f"http://{registry.host}/v2/{name}"
    with httpx.Client(auth=registry.auth) as http:

        def blob(data: bytes) -> dict[str, Any]:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            started = http.post(f"{base}/blobs/uploads/")
            assert started.status_code == 202, started.text
            location = started.headers["Location"]
            location = (
                location if location.startswith("http") else f"http://{registry.host}{location}"
            )
            # The upload's Location keeps its state in the query: add the digest to it.
            separator = "&" if "?" in location else "?"
            done = http.put(f"{location}{separator}digest={digest}", content=data)
            assert done.status_code == 201, done.text
            return {"digest": digest, "size": len(data)}

        config = json.dumps(
            {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **blob(config.encode()),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    **blob(b"layer " + name.encode()),
                }
            ],
        }
        body = json.dumps(manifest).encode()
        answer = http.put(
            f"{base}/manifests/{tag}", content=body, headers={"Content-Type": OCI_MANIFEST}
        )
        assert answer.status_code == 201, answer.text
        return "sha256:" + hashlib.sha256(body).hexdigest()


def pod_with(cluster: RunningCluster, namespace: str, image: str, **spec: Any) -> k8s.V1Pod:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app"},
        "spec": {"containers": [{"name": "app", "image": image}], **spec},
    }
    return cluster.core.create_namespaced_pod(namespace, pod)


def waiting_or_running(cluster: RunningCluster, namespace: str) -> k8s.V1Pod | None:
    pod = cluster.core.read_namespaced_pod("app", namespace)
    statuses = pod.status.container_statuses or []
    if pod.status.phase == "Running" or any(
        s.state.waiting and s.state.waiting.message for s in statuses
    ):
        return pod
    return None


def test_a_pull_secret_lets_the_node_pull_from_a_registry_with_auth(
    cluster: RunningCluster, registry: Registry
) -> None:
    namespace = cluster.namespace()
    digest = push(registry, "team/app", "1.0.0")
    image = f"{registry.host}/team/app@{digest}"
    login = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    config = json.dumps({"auths": {registry.host: {"auth": login}}})
    cluster.core.create_namespaced_secret(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "registry"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(config.encode()).decode()},
        },
    )
    pod_with(cluster, namespace, image, imagePullSecrets=[{"name": "registry"}])
    pod = poll(lambda: waiting_or_running(cluster, namespace), what="the pod pulled or failed")
    assert pod.status.phase == "Running"
    pulled = [
        e.message
        for e in cluster.core.list_namespaced_event(namespace).items
        if e.reason == "Pulled"
    ]
    assert pulled and pulled[0].startswith(f'Successfully pulled image "{image}"')


def test_without_a_pull_secret_the_pull_fails_with_the_registrys_answer(
    cluster: RunningCluster, registry: Registry
) -> None:
    namespace = cluster.namespace()
    digest = push(registry, "team/private", "1.0.0")
    image = f"{registry.host}/team/private@{digest}"
    pod_with(cluster, namespace, image)
    pod = poll(lambda: waiting_or_running(cluster, namespace), what="the pull failure")
    waiting = pod.status.container_statuses[0].state.waiting
    assert waiting.reason in ("ErrImagePull", "ImagePullBackOff")
    assert f"{registry.host} answered 401" in waiting.message
    assert "UNAUTHORIZED" in waiting.message
    assert AUTH[1] not in waiting.message
