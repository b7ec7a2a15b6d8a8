"""Work-queue handlers: cluster operations from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

from typing import Annotated

from faststream import Context
from faststream.nats import NatsMessage, NatsRouter

from slipway_cluster_manager.service import OPERATE, ClusterService
from slipway_contracts.jobs import ClusterOperationJob
from slipway_libs.jobs import delivery_count, job_subscriber
from slipway_libs.settings import CommonSettings

Clusters = Annotated[ClusterService, Context("clusters")]


def job_router(settings: CommonSettings, concurrency: int) -> NatsRouter:
    """The operation-job consumer, with the ack deadline and redelivery bound of `settings`."""
    router = NatsRouter()

    @job_subscriber(router, OPERATE, "cluster-manager-operate", settings, max_workers=concurrency)
    async def operate(job: ClusterOperationJob, msg: NatsMessage, clusters: Clusters) -> None:
        """Start, stop or restart one cluster; a job whose operation ended changes nothing."""
        await clusters.run_operation(job, msg, delivery_count(msg))

    return router
