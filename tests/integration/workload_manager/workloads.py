"""Helpers of the workload-manager's integration tests: the use cases' dependencies on a
fresh MongoDB database, a simulated cluster, and a stand-in for the cluster-manager that hands
images to it the way `minikube image load` would. The fixtures are in `fixtures.py`."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from slipway_simcluster import SimulatedClusterProcess
from slipway_simcluster.client import SimulatedClusterClient

from slipway_contracts import subjects
from slipway_contracts.entities import Deployment, Service
from slipway_libs.errors import NotFound
from slipway_libs.storage import OUTBOX, Database, MongoUnitOfWork
from slipway_workload_manager.adapters.bookkeeping import Leftovers, LoadedImages
from slipway_workload_manager.adapters.helm import HelmCli
from slipway_workload_manager.adapters.mongo import ReleaseRepository, WorkloadRepository
from slipway_workload_manager.adapters.projections import Projections
from slipway_workload_manager.domain.cluster_manager import ClusterManager, ClusterManagerRefused
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.ports import ChartArchive, ChartSource, Helm, WorkloadCluster
from slipway_workload_manager.service_layer import projections
from slipway_workload_manager.service_layer.cluster_access import ClusterConnections
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.settings import WorkloadManagerSettings
from tests.helpers import api_client_for, image_archive
from tests.unit.workload_manager.fakes import (
    FakeChartSource,
    FakeCluster,
    FakeClusterManager,
    FakeDelivery,
    FakeProgress,
    FakePullLogins,
    run_job_message,
)

SOURCE = "/slipway/workload-manager"


@dataclass
class Parts:
    """The workload-manager's use-case dependencies on one database and the given ports."""

    settings: WorkloadManagerSettings
    database: Database
    projections: Projections
    deployments: WorkloadRepository[DeploymentAggregate]
    kube_services: WorkloadRepository[KubeServiceAggregate]
    releases: ReleaseRepository
    connections: ClusterConnections
    deps: Dependencies

    async def outbox(self, stream: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Committed outbox messages (events and jobs, or those of one stream) as
        (subject, payload), oldest first."""
        messages = {"msg_id": {"$exists": True}}  # not the kept replies
        rows = await self.database.db[OUTBOX].find(messages).sort("_id", 1).to_list()
        return [
            (row["subject"], json.loads(bytes(row["payload"])))
            for row in rows
            if stream is None or row["stream"] == stream
        ]


async def build_parts(
    mongodb_uri: str,
    cluster: WorkloadCluster,
    manager: ClusterManager,
    *,
    helm: Helm | None = None,
    charts: ChartSource | None = None,
    **settings: Any,
) -> Parts:
    options: dict[str, Any] = {
        "mongodb_uri": mongodb_uri,
        "database": f"wm_test_{uuid.uuid4().hex[:10]}",
        "job_max_deliver": 3,
        "service_poll_interval_s": 0.1,
        **settings,
    }
    config = WorkloadManagerSettings(**options)
    database = Database(config.mongodb_uri, config.database)
    await database.ensure_indexes()
    deployments = WorkloadRepository(
        database,
        "deployments",
        Deployment,
        DeploymentAggregate,
        subjects.DEPLOYMENT,
        SOURCE,
        lookups=("image_id", "release_id"),
    )
    kube_services = WorkloadRepository(
        database,
        "services",
        Service,
        KubeServiceAggregate,
        subjects.SERVICE,
        SOURCE,
        lookups=("deployment_id", "release_id"),
    )
    releases = ReleaseRepository(database, SOURCE)
    for repository in (deployments, kube_services, releases):
        await repository.ensure_indexes()
    projected = Projections(database)
    await projected.ensure_indexes()
    leftovers = Leftovers(database)
    await leftovers.ensure_indexes()
    connections = ClusterConnections(manager, LoadedImages(database))
    deps = Dependencies(
        settings=config,
        uow=MongoUnitOfWork(database),
        deployments=deployments,
        kube_services=kube_services,
        projections=projected,
        leftovers=leftovers,
        cluster=cluster,
        connections=connections,
        deployment_progress=FakeProgress(),
        kube_service_progress=FakeProgress(),
        releases=releases,
        helm=helm or HelmCli(timeout_s=config.helm_timeout_s),
        charts=charts or FakeChartSource(),
        release_progress=FakeProgress(),
        pull_logins=FakePullLogins(),
    )
    return Parts(
        config, database, projected, deployments, kube_services, releases, connections, deps
    )


async def drop(parts: Parts) -> None:
    await parts.database.client.drop_database(parts.settings.database)
    await parts.database.close()


@dataclass
class FakeWorld:
    parts: Parts
    cluster: FakeCluster
    manager: FakeClusterManager


# --- a simulated cluster ------------------------------------------------------------


@dataclass
class SimCluster:
    process: SimulatedClusterProcess
    kubeconfig_path: Path

    @property
    def kubeconfig(self) -> str:
        return self.kubeconfig_path.read_text()

    def client(self) -> SimulatedClusterClient:
        return SimulatedClusterClient.from_kubeconfig(self.kubeconfig_path)

    def apps(self) -> k8s.AppsV1Api:
        """The official client's apps/v1 API on the cluster."""
        return k8s.AppsV1Api(api_client_for(self.kubeconfig_path))

    def core(self) -> k8s.CoreV1Api:
        """The official client's v1 API on the cluster."""
        return k8s.CoreV1Api(api_client_for(self.kubeconfig_path))

    def networking(self) -> k8s.NetworkingV1Api:
        """The official client's networking.k8s.io/v1 API on the cluster."""
        return k8s.NetworkingV1Api(api_client_for(self.kubeconfig_path))


@dataclass
class SimClusterManager:
    """The cluster-manager's two calls, answered for one simulated cluster: its kubeconfig,
    and an image load that posts a `docker save` tar to it. Images in `absent` are not in
    the engine: their load fails the way `docker save` does."""

    sim: SimCluster
    absent: set[str] = field(default_factory=set)
    loads: list[str] = field(default_factory=list)

    async def kubeconfig(self, cluster_id: str) -> str:
        return self.sim.kubeconfig

    async def load_image(self, cluster_id: str, image: str) -> None:
        if image in self.absent:
            raise ClusterManagerRefused(
                f"docker save {image}: Error response from daemon: No such image: {image}",
                "invalid",
            )
        await self.sim.client().load_images(image_archive(image))
        self.loads.append(image)


async def seed(parts: Parts, *envelopes: dict[str, Any]) -> None:
    """Deliver events of the other services to the event intake, in order."""
    for envelope in envelopes:
        await projections.project_event(parts.deps, envelope)


def job_id(body: dict[str, Any]) -> str:
    """The id of a rollout, apply or release job."""
    return str(body.get("rollout_id") or body.get("apply_id") or body["operation_id"])


class JobRunner:
    """Runs the rollout, apply and release jobs committed to the outbox, as the consumers
    would."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.done: set[str] = set()

    async def pending(self) -> list[tuple[str, dict[str, Any]]]:
        jobs = await self.parts.outbox(subjects.JOBS_STREAM)
        return [j for j in jobs if job_id(j[1]) not in self.done]

    async def run_one(self, job: tuple[str, dict[str, Any]], attempt: int = 1) -> FakeDelivery:
        subject, body = job
        delivery = await run_job_message(self.parts.deps, subject, body, attempt)
        self.done.add(job_id(body))
        return delivery

    async def run(self) -> list[FakeDelivery]:
        """Run every job not run yet, all at once (as parallel consumers would)."""
        return list(await asyncio.gather(*(self.run_one(job) for job in await self.pending())))


class DirectoryCharts:
    """The chart-validator's `source` query for charts in directories: each packed as a
    `.tgz` whose top folder is the chart's name, as the chart-validator hands them over."""

    def __init__(self, charts: dict[str, Path]) -> None:
        self.charts = charts

    async def archive(self, chart_id: str) -> ChartArchive:
        if chart_id not in self.charts:
            raise NotFound(f"helm_chart '{chart_id}' does not exist")
        directory = self.charts[chart_id]
        chart = yaml.safe_load((directory / "Chart.yaml").read_text())
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            archive.add(directory, arcname=chart["name"])
        return ChartArchive(
            chart_id, chart["name"], chart["version"], chart.get("appVersion"), buffer.getvalue()
        )
