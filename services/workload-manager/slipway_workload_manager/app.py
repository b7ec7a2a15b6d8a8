"""Composition root of the workload-manager: settings, MongoDB, the projections, the
cluster-manager, Kubernetes, helm and chart-source adapters, NATS handlers and the reconcile
loops."""

from __future__ import annotations

import asyncio
from functools import partial

from faststream import FastStream

from slipway_contracts import subjects
from slipway_contracts.entities import Deployment, Service
from slipway_contracts.events import events_of
from slipway_contracts.jobs import ApplyServiceJob, ReleaseJob, RolloutJob
from slipway_libs.messaging import DeclaredPublishers
from slipway_libs.worker import WorkerKit, build_worker_app
from slipway_observability import metrics
from slipway_workload_manager.adapters.bookkeeping import Leftovers, LoadedImages
from slipway_workload_manager.adapters.chart_source import NatsChartSource
from slipway_workload_manager.adapters.cluster_manager import NatsClusterManager, OwnerQueries
from slipway_workload_manager.adapters.delivery_metrics import DeliveryMetrics, record_usage
from slipway_workload_manager.adapters.helm import HelmCli
from slipway_workload_manager.adapters.kubernetes import KubernetesWorkloads
from slipway_workload_manager.adapters.mongo import ReleaseRepository, WorkloadRepository
from slipway_workload_manager.adapters.projections import Projections
from slipway_workload_manager.adapters.pull_logins import NatsPullLogins
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.handlers import commands
from slipway_workload_manager.handlers.context import DEPENDENCIES
from slipway_workload_manager.handlers.events import events_router
from slipway_workload_manager.handlers.jobs import job_router
from slipway_workload_manager.service_layer import reconciliation, sweeps, usage
from slipway_workload_manager.service_layer.cluster_access import ClusterConnections
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import (
    APPLY_SUBJECT,
    RELEASE_SUBJECT,
    ROLLOUT_SUBJECT,
)
from slipway_workload_manager.settings import WorkloadManagerSettings

SERVICE = "workload-manager"


def declare_publishers(publishers: DeclaredPublishers) -> None:
    publishers.declare_events(subjects.DEPLOYMENT, events_of(subjects.DEPLOYMENT))
    publishers.declare_events(subjects.SERVICE, events_of(subjects.SERVICE))
    publishers.declare_events(subjects.RELEASE, events_of(subjects.RELEASE))
    publishers.declare(
        ROLLOUT_SUBJECT, subjects.JOBS_STREAM, RolloutJob, "Roll one Deployment out to its cluster."
    )
    publishers.declare(APPLY_SUBJECT, subjects.JOBS_STREAM, ApplyServiceJob, "Apply one Service.")
    publishers.declare(
        RELEASE_SUBJECT,
        subjects.JOBS_STREAM,
        ReleaseJob,
        "Run helm for one Release (install, upgrade, rollback, uninstall).",
    )
    publishers.declare_progress(subjects.DEPLOYMENT)
    publishers.declare_progress(subjects.SERVICE)
    publishers.declare_progress(subjects.RELEASE)


async def close_at_shutdown(cluster: KubernetesWorkloads) -> None:
    """Keep the cluster clients until the service stops, then close them."""
    try:
        await asyncio.Event().wait()
    finally:
        cluster.close()


async def assemble(kit: WorkerKit[WorkloadManagerSettings]) -> None:
    settings = kit.settings
    source = f"/slipway/{SERVICE}"
    deployments = WorkloadRepository(
        kit.database,
        "deployments",
        Deployment,
        DeploymentAggregate,
        subjects.DEPLOYMENT,
        source,
        lookups=("image_id", "release_id"),
    )
    kube_services = WorkloadRepository(
        kit.database,
        "services",
        Service,
        KubeServiceAggregate,
        subjects.SERVICE,
        source,
        lookups=("deployment_id", "release_id"),
    )
    releases = ReleaseRepository(kit.database, source)
    owners = OwnerQueries(
        kit.broker, timeout_s=settings.cluster_manager_timeout_s, signer=kit.signer
    )
    projections = Projections(kit.database, owners.snapshot)
    kit.observe_published(DeliveryMetrics(projections).observe)
    leftovers = Leftovers(kit.database)
    kit.setup(deployments.ensure_indexes)
    kit.setup(kube_services.ensure_indexes)
    kit.setup(releases.ensure_indexes)
    kit.setup(projections.ensure_indexes)
    kit.setup(leftovers.ensure_indexes)
    manager = NatsClusterManager(
        kit.broker,
        query_timeout_s=settings.cluster_manager_timeout_s,
        load_timeout_s=settings.image_load_timeout_s,
        signer=kit.signer,
    )
    cluster = KubernetesWorkloads()
    kit.run(close_at_shutdown(cluster))
    deps = Dependencies(
        settings=settings,
        uow=kit.unit_of_work(),
        deployments=deployments,
        kube_services=kube_services,
        releases=releases,
        projections=projections,
        leftovers=leftovers,
        cluster=cluster,
        connections=ClusterConnections(manager, LoadedImages(kit.database)),
        deployment_progress=kit.progress(subjects.DEPLOYMENT),
        kube_service_progress=kit.progress(subjects.SERVICE),
        helm=HelmCli(
            timeout_s=settings.helm_timeout_s, max_concurrency=settings.release_concurrency
        ),
        charts=NatsChartSource(
            kit.broker, timeout_s=settings.chart_source_timeout_s, signer=kit.signer
        ),
        release_progress=kit.progress(subjects.RELEASE),
        pull_logins=NatsPullLogins(
            kit.broker, timeout_s=settings.cluster_manager_timeout_s, signer=kit.signer
        ),
    )
    kit.set_global(DEPENDENCIES, deps)
    kit.every(
        settings.reconcile_interval_s, partial(sweeps.sweep_deadlines, deps), "deadline sweep"
    )
    kit.every(settings.reconcile_interval_s, partial(reconciliation.reconcile, deps), "reconcile")
    kit.every(settings.usage_interval_s, partial(usage.record_usage, deps, record_usage), "usage")
    if settings.metrics_port:
        root = partial(
            metrics.sample_root_workloads, deployments.collection, projections.images.name
        )
        kit.every(settings.metrics_interval_s, root, "workloads running as root")
    kit.log_when_ready(
        rollout_concurrency=settings.rollout_concurrency,
        release_concurrency=settings.release_concurrency,
        reconcile_interval_s=settings.reconcile_interval_s,
    )


def create_app(settings: WorkloadManagerSettings | None = None) -> FastStream:
    settings = settings or WorkloadManagerSettings()
    return build_worker_app(
        SERVICE,
        settings,
        database=settings.database,
        routers=[commands.handlers, job_router(settings), events_router()],
        declare_publishers=declare_publishers,
        assemble=assemble,
    )
