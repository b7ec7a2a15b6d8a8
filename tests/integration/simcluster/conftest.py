"""A real simulated cluster process on a free loopback port, and the official client for it."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import ssl
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from slipway_libs.simcluster import SimulatedClusterProcess
from slipway_libs.simcluster.client import SimulatedClusterClient

T = TypeVar("T")
WEB_IMAGE = "registry.local/shop/web:1.0.0"
WEB_IMAGE_V2 = "registry.local/shop/web:2.0.0"


def wait_for(
    condition: Callable[[], T | None], timeout: float = 15.0, what: str = "condition"
) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def image_archive(*tags: str) -> bytes:
    """A minimal `docker save` tar naming the given tags."""
    manifest = [
        {"Config": f"blobs/sha256/{uuid.uuid4().hex}", "RepoTags": list(tags), "Layers": []}
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def api_client_for(kubeconfig: Path, pool: int = 32) -> k8s.ApiClient:
    """The official Python client configured from a kubeconfig file."""
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = pool
    return k8s.ApiClient(configuration)


@dataclass
class RunningCluster:
    """A started simulated cluster and clients for it."""

    process: SimulatedClusterProcess
    kubeconfig: Path
    token: str
    api: k8s.ApiClient
    simulated: SimulatedClusterClient

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api)

    def http(self, token: str | None = "") -> httpx.Client:
        """A raw HTTPS client for the API server (for what the official client hides).

        `token=None` sends no credentials at all (an anonymous request).
        """
        context = ssl.create_default_context(cafile=self.api.configuration.ssl_ca_cert)
        headers = {} if token is None else {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(
            base_url=self.simulated.server, verify=context, headers=headers, timeout=30
        )

    def namespace(self) -> str:
        """A fresh namespace, so tests sharing the cluster do not see each other's objects."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        self.core.create_namespace({"metadata": {"name": name}})
        return name


def start_cluster(state: Path, token: str, **options: Any) -> SimulatedClusterProcess:
    process = SimulatedClusterProcess(
        "sim-test", state / "state", token, state / "kubeconfig", ready_delay=0.2, **options
    )
    asyncio.run(process.start())
    return process


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    """One simulated cluster per test module, with the test images loaded."""
    state = tmp_path_factory.mktemp("simcluster")
    token = secrets.token_urlsafe(24)
    process = start_cluster(state, token)
    try:
        kubeconfig = state / "kubeconfig"
        simulated = SimulatedClusterClient.from_kubeconfig(kubeconfig)
        asyncio.run(simulated.load_images(image_archive(WEB_IMAGE, WEB_IMAGE_V2)))
        api = api_client_for(kubeconfig)
        yield RunningCluster(process, kubeconfig, token, api, simulated)
        api.close()
    finally:
        asyncio.run(process.stop())


def deployment_body(
    name: str, replicas: int = 3, image: str = WEB_IMAGE, **spec: Any
) -> dict[str, Any]:
    """A Deployment manifest like the ones Slipway creates."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ]
                },
            },
            **spec,
        },
    }


def condition(deployment: k8s.V1Deployment, kind: str) -> k8s.V1DeploymentCondition | None:
    """A Deployment condition by type."""
    for item in (deployment.status and deployment.status.conditions) or []:
        if item.type == kind:
            return item
    return None
