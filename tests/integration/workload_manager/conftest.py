"""A real simulated cluster, the workload adapter pointed at it, and entity builders."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import tarfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from slipway_contracts.entities import Deployment, DeploymentStatus, Service, ServiceStatus
from slipway_libs.simcluster import SimulatedClusterProcess
from slipway_libs.simcluster.client import SimulatedClusterClient
from slipway_workload_manager.adapters.kubernetes import KubernetesWorkloads
from slipway_workload_manager.domain.ports import ClusterAccess

T = TypeVar("T")
IMAGE = "registry.local/shop/web:1.0.0"
MISSING_IMAGE = "registry.local/shop/never-loaded:1.0.0"


def image_archive(*tags: str) -> bytes:
    """A minimal `docker save` tar naming `tags`: loading it makes them available."""
    manifest = [{"Config": f"blobs/sha256/{uuid.uuid4().hex}", "RepoTags": list(tags)}]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Cluster:
    """A running simulated cluster: Slipway's access to it and independent clients."""

    process: SimulatedClusterProcess
    kubeconfig: Path
    simulated: SimulatedClusterClient
    api: k8s.ApiClient

    @property
    def access(self) -> ClusterAccess:
        return ClusterAccess(
            cluster_id=f"sim-{self.process.name}", kubeconfig=self.kubeconfig.read_text()
        )

    @property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api)

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    def namespace(self) -> str:
        """A fresh namespace, so the tests sharing the cluster do not see each other."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        self.core.create_namespace({"metadata": {"name": name}})
        return name


async def start_cluster(state: Path, name: str = "workloads", **options: Any) -> Cluster:
    """Start a simulated cluster process keeping its state under `state`."""
    process = SimulatedClusterProcess(
        name,
        state / "state",
        secrets.token_urlsafe(24),
        state / "kubeconfig",
        ready_delay=0.2,
        **options,
    )
    await process.start()
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(
        config_file=str(process.kubeconfig_path), client_configuration=configuration
    )
    return Cluster(
        process,
        process.kubeconfig_path,
        SimulatedClusterClient.from_kubeconfig(process.kubeconfig_path),
        k8s.ApiClient(configuration),
    )


async def stop_cluster(cluster: Cluster) -> None:
    cluster.api.close()
    await cluster.process.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One simulated cluster per test module, with IMAGE loaded (MISSING_IMAGE is not)."""
    running = asyncio.run(start_cluster(tmp_path_factory.mktemp("workloads")))
    try:
        asyncio.run(running.simulated.load_images(image_archive(IMAGE)))
        yield running
    finally:
        asyncio.run(stop_cluster(running))


@pytest.fixture(scope="module")
def workloads() -> Iterator[KubernetesWorkloads]:
    adapter = KubernetesWorkloads()
    yield adapter
    adapter.close()


NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def deployment_entity(namespace: str, **changes: Any) -> Deployment:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "created_at": NOW,
        "last_updated": NOW,
        "revision": 1,
        "name": "web",
        "namespace": namespace,
        "cluster_id": "sim-workloads",
        "image": IMAGE,
        "replicas": 3,
        "container_port": 8080,
        "status": DeploymentStatus.PENDING,
    }
    return Deployment(**(fields | changes))


def service_entity(deployment: Deployment, **changes: Any) -> Service:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "created_at": NOW,
        "last_updated": NOW,
        "revision": 1,
        "name": "web",
        "namespace": deployment.namespace,
        "cluster_id": deployment.cluster_id,
        "deployment_id": deployment.id,
        "port": 80,
        "target_port": deployment.container_port,
        "status": ServiceStatus.PENDING,
    }
    return Service(**(fields | changes))


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout: float = 15.0,
    what: str = "condition",
) -> T:
    """Call `probe` until `done` holds for its answer; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await probe()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {answer}")
        await asyncio.sleep(0.05)
