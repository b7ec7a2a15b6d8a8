"""A real simulated cluster process on a free loopback port, and the official client for it."""

from __future__ import annotations

import asyncio
import secrets
import ssl
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
