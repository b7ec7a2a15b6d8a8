"""Composition root of the cluster-manager: settings, MongoDB, the drivers, NATS, handlers."""

from __future__ import annotations

import functools
import logging

from faststream import FastStream
from pymongo import ASCENDING

from slipway_cluster_manager.adapters.credentials import (
    CLUSTER_SECRETS,
    SealedClusterCredentials,
)
from slipway_cluster_manager.adapters.host import RecentHostCapabilities, read_host_capabilities
from slipway_cluster_manager.adapters.kubeconfig_driver import KubeconfigDriver
from slipway_cluster_manager.adapters.kubeconfig_file import KubeconfigFiles
from slipway_cluster_manager.adapters.minikube import MinikubeDriver
from slipway_cluster_manager.adapters.sim_driver import SimDriver
from slipway_cluster_manager.domain.alert import AlertAggregate
from slipway_cluster_manager.domain.cluster import ClusterAggregate
from slipway_cluster_manager.domain.ports import ClusterDriver
from slipway_cluster_manager.handlers import commands, queries
from slipway_cluster_manager.handlers.context import DEPENDENCIES
from slipway_cluster_manager.handlers.jobs import job_router
from slipway_cluster_manager.service_layer.clusters import UNIQUE_NAME_INDEX
from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_cluster_manager.service_layer.health import probe_clusters
from slipway_cluster_manager.service_layer.operations import OPERATE
from slipway_cluster_manager.service_layer.sweeps import expire_overdue_operations
from slipway_cluster_manager.settings import ClusterManagerSettings
from slipway_contracts import subjects
from slipway_contracts.entities import Alert, ClusterDriverName, MinikubeCluster
from slipway_contracts.events import events_of
from slipway_contracts.jobs import ClusterOperationJob
from slipway_keys.secrets import sealer_from
from slipway_libs.messaging import DeclaredPublishers
from slipway_libs.storage import Repository
from slipway_libs.worker import WorkerKit, build_worker_app

SERVICE = "cluster-manager"
CLUSTER = subjects.MINIKUBE_CLUSTER


def declare_publishers(publishers: DeclaredPublishers) -> None:
    publishers.declare_events(CLUSTER, events_of(CLUSTER))
    publishers.declare_events(subjects.ALERT, events_of(subjects.ALERT))
    publishers.declare(
        OPERATE,
        subjects.JOBS_STREAM,
        ClusterOperationJob,
        "Start, stop, restart or delete one cluster.",
    )
    publishers.declare_progress(CLUSTER)


def make_drivers(
    settings: ClusterManagerSettings, kubeconfigs: KubeconfigFiles
) -> dict[str, ClusterDriver]:
    """One driver per backend, keyed by the entity's `driver`."""
    return {
        ClusterDriverName.MINIKUBE: MinikubeDriver(
            executable=settings.minikube_path,
            minikube_home=settings.minikube_home,
            default_vm_driver=settings.minikube_vm_driver,
            # The operation's deadline is what ends a start; this only backs it up.
            start_timeout=settings.minikube_start_deadline_s + 60,
            command_timeout=settings.stop_deadline_s,
        ),
        ClusterDriverName.KUBECONFIG: KubeconfigDriver(
            kubeconfigs, probe_timeout=settings.probe_timeout_s
        ),
        ClusterDriverName.SIM: SimDriver(
            ready_delay_s=settings.sim_ready_delay_s,
            probe_timeout_s=settings.probe_timeout_s,
            docker_host=settings.docker_host,
            cluster_sees_docker_images=settings.sim_uses_docker_images,
        ),
    }


async def assemble(kit: WorkerKit[ClusterManagerSettings]) -> None:
    settings = kit.settings
    # httpx logs every request at INFO: one line per health probe of every sim cluster.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    clusters = kit.repository(
        "minikube_clusters",
        MinikubeCluster,
        ClusterAggregate,
        CLUSTER,
        deadline_field="operation.deadline",
    )
    kit.setup(functools.partial(create_indexes, clusters))
    uow = kit.unit_of_work()
    kubeconfigs = KubeconfigFiles(settings.kubeconfig_roots)
    deps = Dependencies(
        settings=settings,
        uow=uow,
        clusters=clusters,
        drivers=make_drivers(settings, kubeconfigs),
        host=RecentHostCapabilities(
            functools.partial(
                read_host_capabilities,
                settings.clusters_dir,
                memory_reserve_mb=settings.memory_reserve_mb,
            )
        ),
        kubeconfigs=kubeconfigs,
        credentials=SealedClusterCredentials(
            uow, uow.db[CLUSTER_SECRETS], sealer_from(settings, settings.state_dir)
        ),
        progress=kit.progress(CLUSTER),
        alerts=kit.repository("alerts", Alert, AlertAggregate, subjects.ALERT),
    )
    kit.set_global(DEPENDENCIES, deps)
    sweep = functools.partial(expire_overdue_operations, deps)
    kit.every(settings.reconcile_interval_s, sweep, "deadline sweep")
    monitor = functools.partial(probe_clusters, deps)
    kit.every(settings.probe_interval_s, monitor, "health monitor")
    kit.log_when_ready(
        clusters_dir=str(settings.clusters_dir),
        probe_interval_s=settings.probe_interval_s,
        kubeconfig_roots=[str(root) for root in settings.kubeconfig_roots],
    )


async def create_indexes(clusters: Repository[ClusterAggregate]) -> None:
    """Cluster names are unique; the deadline sweep looks operations up by deadline; the
    health monitor, every few seconds, the attached clusters (by driver: without the index
    it read every cluster each time, 4 ms of MongoDB's CPU per 3,000 clusters)."""
    await clusters.collection.create_index(
        [("name", ASCENDING)], unique=True, name=UNIQUE_NAME_INDEX
    )
    await clusters.collection.create_index("operation.deadline")
    await clusters.collection.create_index("driver")


def create_app(settings: ClusterManagerSettings | None = None) -> FastStream:
    settings = settings or ClusterManagerSettings()
    return build_worker_app(
        SERVICE,
        settings,
        database=settings.database,
        routers=[
            commands.handlers,
            queries.handlers,
            job_router(settings, settings.operation_concurrency),
        ],
        declare_publishers=declare_publishers,
        assemble=assemble,
    )
