"""A real simulated cluster, the workload adapter pointed at it, and entity builders."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s
from slipway_simcluster import SimulatedClusterProcess
from slipway_simcluster.client import SimulatedClusterClient

from slipway_contracts.entities import Deployment, DeploymentStatus, Service, ServiceStatus
from slipway_workload_manager.adapters.kubernetes import KubernetesWorkloads
from slipway_workload_manager.domain.ports import ClusterAccess
from tests.helpers import KubernetesClients, api_client_for, image_archive
from tests.waiting import eventually

T = TypeVar("T")
IMAGE = "registry.local/shop/web:1.0.0"
MISSING_IMAGE = "registry.local/shop/never-loaded:1.0.0"


@dataclass
class Cluster(KubernetesClients):
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
    return Cluster(
        process,
        process.kubeconfig_path,
        SimulatedClusterClient.from_kubeconfig(process.kubeconfig_path),
        api_client_for(process.kubeconfig_path),
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


def _new_entity(**fields: Any) -> dict[str, Any]:
    """What every freshly accepted entity has, plus `fields`."""
    return {
        "id": str(uuid.uuid4()),
        "created_at": NOW,
        "last_updated": NOW,
        "revision": 1,
        **fields,
    }


def deployment_entity(namespace: str, **changes: Any) -> Deployment:
    fields = _new_entity(
        name="web",
        namespace=namespace,
        cluster_id="sim-workloads",
        image=IMAGE,
        replicas=3,
        container_port=8080,
        status=DeploymentStatus.PENDING,
    )
    return Deployment(**(fields | changes))


def service_entity(deployment: Deployment, **changes: Any) -> Service:
    fields = _new_entity(
        name="web",
        namespace=deployment.namespace,
        cluster_id=deployment.cluster_id,
        deployment_id=deployment.id,
        port=80,
        target_port=deployment.container_port,
        status=ServiceStatus.PENDING,
    )
    return Service(**(fields | changes))


async def until(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout_s: float = 15.0,
    what: str = "condition",
) -> T:
    """The answer of `probe` once `done` holds for it (polled by `tests.waiting.eventually`)."""

    async def check() -> T | None:
        answer = await probe()
        return answer if done(answer) else None

    return await eventually(check, timeout_s=timeout_s, what=what)
