"""A real simulated cluster process on a free loopback port, and the official client for it."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from kubernetes import client as k8s
from slipway_simcluster import SimulatedClusterProcess
from slipway_simcluster.client import SimulatedClusterClient

from tests.helpers import KubernetesClients, api_client_for, image_archive

T = TypeVar("T")
WEB_IMAGE = "registry.local/shop/web:1.0.0"
WEB_IMAGE_V2 = "registry.local/shop/web:2.0.0"
KUBECTL = shutil.which("kubectl")
HELM = Path(sys.executable).parent / "helm"
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
needs_helm = pytest.mark.skipif(not HELM.exists(), reason="helm is not installed")


@dataclass
class RunningCluster(KubernetesClients):
    """A started simulated cluster and clients for it."""

    process: SimulatedClusterProcess
    kubeconfig: Path
    token: str
    api: k8s.ApiClient
    simulated: SimulatedClusterClient

    def http(self, token: str | None = "") -> httpx.Client:
        """A raw HTTPS client for the API server (for what the official client hides).

        `token=None` sends no credentials at all (an anonymous request).
        """
        context = ssl.create_default_context(cafile=self.api.configuration.ssl_ca_cert)
        headers = {} if token is None else {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(
            base_url=self.simulated.server, verify=context, headers=headers, timeout=30
        )


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


def kubectl(
    cluster: RunningCluster, tmp_path: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real kubectl against the cluster (its own discovery cache per test)."""
    assert KUBECTL is not None
    command = [
        KUBECTL,
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--cache-dir",
        str(tmp_path / "cache"),
        *args,
    ]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def helm(cluster: RunningCluster, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real helm against the cluster, with a home of its own."""
    home = tmp_path / "helm"
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    command = [str(HELM), "--kubeconfig", str(cluster.kubeconfig), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=180, env=env, check=False
    )
