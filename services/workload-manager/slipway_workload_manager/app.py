"""Composition root of the workload-manager: settings, MongoDB, the projections, the
cluster-manager and Kubernetes adapters, NATS handlers and the reconcile loops."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from faststream import FastStream

from slipway_contracts import subjects
from slipway_contracts.entities import Deployment, Service
from slipway_contracts.events import events_of
from slipway_contracts.jobs import ApplyServiceJob, RolloutJob
from slipway_libs.messaging import JOBS_STREAM, DeclaredPublishers
from slipway_libs.worker import WorkerKit, build_worker_app
from slipway_workload_manager.adapters.bookkeeping import Leftovers, LoadedImages
from slipway_workload_manager.adapters.cluster_manager import NatsClusterManager, owner_snapshot
from slipway_workload_manager.adapters.kubernetes import KubernetesWorkloads
from slipway_workload_manager.adapters.projections import Projections
from slipway_workload_manager.clusters import ClusterConnections
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.service import ServiceAggregate
from slipway_workload_manager.handlers import commands
from slipway_workload_manager.handlers.events import events_router
from slipway_workload_manager.handlers.jobs import job_router
from slipway_workload_manager.parts import WorkloadParts
from slipway_workload_manager.reconcile import Reconciler
from slipway_workload_manager.rollouts import Rollouts
from slipway_workload_manager.scheduling import APPLY_SUBJECT, ROLLOUT_SUBJECT
from slipway_workload_manager.service import WorkloadService, ensure_workload_indexes
from slipway_workload_manager.settings import WorkloadManagerSettings

SERVICE = "workload-manager"


def declare_publishers(publishers: DeclaredPublishers) -> None:
    publishers.declare_events(subjects.DEPLOYMENT, events_of(subjects.DEPLOYMENT))
    publishers.declare_events(subjects.SERVICE, events_of(subjects.SERVICE))
    publishers.declare(
        ROLLOUT_SUBJECT, JOBS_STREAM, RolloutJob, "Roll one Deployment out to its cluster."
    )
    publishers.declare(APPLY_SUBJECT, JOBS_STREAM, ApplyServiceJob, "Apply one Service.")


async def assemble(kit: WorkerKit[WorkloadManagerSettings]) -> None:
    settings = kit.settings
    deployments = kit.repository(
        "deployments", Deployment, DeploymentAggregate, subjects.DEPLOYMENT
    )
    services = kit.repository("services", Service, ServiceAggregate, subjects.SERVICE)

    async def lookup(entity: str, entity_id: str) -> dict[str, Any] | None:
        return await owner_snapshot(
            kit.broker, entity, entity_id, settings.cluster_manager_timeout_s
        )

    projections = Projections(kit.database, lookup)
    leftovers = Leftovers(kit.database)

    async def indexes() -> None:
        await ensure_workload_indexes(deployments, services)
        await projections.ensure_indexes()
        await leftovers.ensure_indexes()

    kit.setup(indexes)
    manager = NatsClusterManager(
        kit.broker,
        query_timeout_s=settings.cluster_manager_timeout_s,
        load_timeout_s=settings.image_load_timeout_s,
    )
    connections = ClusterConnections(manager, LoadedImages(kit.database))
    cluster = KubernetesWorkloads()

    async def close_cluster_clients() -> None:
        try:
            await asyncio.Event().wait()  # until the service stops
        finally:
            cluster.close()

    kit.run(close_cluster_clients())

    async def progress(entity: str, entity_id: str, line: str) -> None:
        with contextlib.suppress(Exception):  # live progress is best effort
            await kit.broker.publish(
                {"id": entity_id, "lines": [line]}, subjects.progress(entity, entity_id)
            )

    parts = WorkloadParts(
        settings, deployments, services, projections, leftovers, cluster, connections
    )
    kit.set_global("workloads", WorkloadService(parts))
    kit.set_global("rollouts", Rollouts(parts, progress))
    reconciler = Reconciler(parts)
    kit.set_global("reconciler", reconciler)
    kit.every(settings.reconcile_interval_s, reconciler.expire_overdue, "deadline sweep")
    kit.every(settings.reconcile_interval_s, reconciler.reconcile, "reconcile")
    kit.log_when_ready(
        rollout_concurrency=settings.rollout_concurrency,
        reconcile_interval_s=settings.reconcile_interval_s,
    )


def create_app(settings: WorkloadManagerSettings | None = None) -> FastStream:
    settings = settings or WorkloadManagerSettings()
    return build_worker_app(
        SERVICE,
        settings,
        database=settings.database,
        routers=[commands.router, job_router(settings), events_router()],
        declare_publishers=declare_publishers,
        assemble=assemble,
    )
