"""Helpers of the workload-manager's integration tests: the use cases' dependencies on a
fresh MongoDB database, a simulated cluster, and a stand-in for the cluster-manager that hands
images to it the way `minikube image load` would. The fixtures are in `fixtures.py`."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway_simcluster import SimulatedClusterProcess
from slipway_simcluster.client import SimulatedClusterClient

from slipway_contracts import subjects
from slipway_contracts.entities import Deployment, Service
from slipway_libs.storage import OUTBOX, Database, MongoUnitOfWork
from slipway_workload_manager.adapters.bookkeeping import Leftovers, LoadedImages
from slipway_workload_manager.adapters.mongo import WorkloadRepository
from slipway_workload_manager.adapters.projections import Projections
from slipway_workload_manager.domain.cluster_manager import ClusterManager, ClusterManagerRefused
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.ports import WorkloadCluster
from slipway_workload_manager.service_layer import projections
from slipway_workload_manager.service_layer.cluster_access import ClusterConnections
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.settings import WorkloadManagerSettings
from tests.helpers import image_archive
from tests.unit.workload_manager.fakes import (
    FakeCluster,
    FakeClusterManager,
    FakeDelivery,
    FakeProgress,
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
    connections: ClusterConnections
    deps: Dependencies

    async def outbox(self, stream: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Committed outbox messages (events and jobs, or those of one stream) as
        (subject, payload), oldest first."""
        rows = await self.database.db[OUTBOX].find().sort("_id", 1).to_list()
        return [
            (row["subject"], json.loads(bytes(row["payload"])))
            for row in rows
            if stream is None or row["stream"] == stream
        ]


async def build_parts(
    mongodb_uri: str,
    cluster: WorkloadCluster,
    manager: ClusterManager,
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
        lookups=("image_id",),
    )
    kube_services = WorkloadRepository(
        database,
        "services",
        Service,
        KubeServiceAggregate,
        subjects.SERVICE,
        SOURCE,
        lookups=("deployment_id",),
    )
    for repository in (deployments, kube_services):
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
    )
    return Parts(config, database, projected, deployments, kube_services, connections, deps)


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


class JobRunner:
    """Runs the rollout and apply jobs committed to the outbox, as the consumers would."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.done: set[str] = set()

    async def pending(self) -> list[tuple[str, dict[str, Any]]]:
        jobs = await self.parts.outbox(subjects.JOBS_STREAM)
        return [
            j for j in jobs if (j[1].get("rollout_id") or j[1].get("apply_id")) not in self.done
        ]

    async def run_one(self, job: tuple[str, dict[str, Any]], attempt: int = 1) -> FakeDelivery:
        subject, body = job
        delivery = await run_job_message(self.parts.deps, subject, body, attempt)
        self.done.add(body.get("rollout_id") or body["apply_id"])
        return delivery

    async def run(self) -> list[FakeDelivery]:
        """Run every job not run yet, all at once (as parallel consumers would)."""
        return list(await asyncio.gather(*(self.run_one(job) for job in await self.pending())))
