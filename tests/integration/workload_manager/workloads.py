"""Helpers of the workload-manager's integration tests: the service's parts on a fresh
MongoDB database, a simulated cluster, and a stand-in for the cluster-manager that hands
images to it the way `minikube image load` would. The fixtures are in `fixtures.py`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from slipway_simcluster import SimulatedClusterProcess
from slipway_simcluster.client import SimulatedClusterClient

from slipway_contracts import subjects
from slipway_contracts.entities import Deployment, Service
from slipway_contracts.jobs import ApplyServiceJob, RolloutJob
from slipway_libs.messaging import EVENTS_STREAM
from slipway_libs.storage import OUTBOX, Database, Repository
from slipway_workload_manager.adapters.bookkeeping import Leftovers, LoadedImages
from slipway_workload_manager.adapters.projections import Projections
from slipway_workload_manager.clusters import ClusterConnections
from slipway_workload_manager.domain.cluster_manager import ClusterManager, ClusterManagerRefused
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.ports import WorkloadCluster
from slipway_workload_manager.domain.service import ServiceAggregate
from slipway_workload_manager.parts import WorkloadParts
from slipway_workload_manager.reconcile import Reconciler
from slipway_workload_manager.rollouts import Rollouts
from slipway_workload_manager.service import WorkloadService, ensure_workload_indexes
from slipway_workload_manager.settings import WorkloadManagerSettings
from tests.helpers import image_archive
from tests.unit.workload_manager.fakes import FakeCluster, FakeClusterManager, FakeDelivery

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], timeout_s: float = 30, what: str = "condition"
) -> T:
    """Await `check` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not hold within {timeout_s}s (last: {last!r})")


@dataclass
class Parts:
    """The workload-manager's use cases wired to one database and the given cluster ports."""

    settings: WorkloadManagerSettings
    database: Database
    projections: Projections
    deployments: Repository[DeploymentAggregate]
    services: Repository[ServiceAggregate]
    workloads: WorkloadService
    rollouts: Rollouts
    reconciler: Reconciler
    connections: ClusterConnections

    async def outbox(self, subject_prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
        """Committed outbox messages (events and jobs) as (subject, payload), oldest first."""
        rows = await self.database.db[OUTBOX].find().sort("_id", 1).to_list()
        return [
            (row["subject"], json.loads(bytes(row["payload"])))
            for row in rows
            if row["subject"].startswith(subject_prefix)
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

    def repository(collection: str, model: Any, aggregate: Any, entity: str) -> Any:
        return Repository(
            database,
            collection,
            model,
            aggregate,
            entity,
            "/slipway/workload-manager",
            EVENTS_STREAM,
        )

    deployments = repository("deployments", Deployment, DeploymentAggregate, subjects.DEPLOYMENT)
    services = repository("services", Service, ServiceAggregate, subjects.SERVICE)
    for repo in (deployments, services):
        await repo.ensure_indexes()
    await ensure_workload_indexes(deployments, services)
    projections = Projections(database)
    await projections.ensure_indexes()
    leftovers = Leftovers(database)
    await leftovers.ensure_indexes()
    connections = ClusterConnections(manager, LoadedImages(database))
    parts = WorkloadParts(
        config, deployments, services, projections, leftovers, cluster, connections
    )
    return Parts(
        settings=config,
        database=database,
        projections=projections,
        deployments=deployments,
        services=services,
        workloads=WorkloadService(parts),
        rollouts=Rollouts(parts),
        reconciler=Reconciler(parts),
        connections=connections,
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
    """Deliver events of the other services to the projection consumer, in order."""
    for envelope in envelopes:
        await parts.reconciler.project(envelope)


class JobRunner:
    """Runs the rollout and apply jobs committed to the outbox, as the consumers would."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.done: set[str] = set()

    async def pending(self) -> list[tuple[str, dict[str, Any]]]:
        jobs = await self.parts.outbox("slipway.jobs.")
        return [
            j for j in jobs if (j[1].get("rollout_id") or j[1].get("apply_id")) not in self.done
        ]

    async def run_one(self, job: tuple[str, dict[str, Any]], attempt: int = 1) -> FakeDelivery:
        delivery = FakeDelivery()
        subject, body = job
        if subject.endswith(".rollout"):
            await self.parts.rollouts.run_rollout(RolloutJob(**body), delivery, attempt)
            self.done.add(body["rollout_id"])
        else:
            await self.parts.rollouts.run_apply(ApplyServiceJob(**body), delivery, attempt)
            self.done.add(body["apply_id"])
        return delivery

    async def run(self) -> list[FakeDelivery]:
        """Run every job not run yet, all at once (as parallel consumers would)."""
        return list(await asyncio.gather(*(self.run_one(job) for job in await self.pending())))
