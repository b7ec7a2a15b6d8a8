"""Work-queue handlers: cluster operations from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

from typing import Annotated

from faststream import AckPolicy, Context
from faststream.nats import ConsumerConfig, JStream, NatsMessage, NatsRouter, PullSub

from slipway_cluster_manager.service import OPERATE, ClusterService
from slipway_contracts.jobs import ClusterOperationJob
from slipway_libs.jobs import delivery_count
from slipway_libs.messaging import JOBS_STREAM
from slipway_libs.settings import CommonSettings

Clusters = Annotated[ClusterService, Context("clusters")]


def job_router(settings: CommonSettings, concurrency: int) -> NatsRouter:
    """The operation-job consumer, with the ack deadline and redelivery bound of `settings`."""
    router = NatsRouter()

    @router.subscriber(
        OPERATE,
        stream=JStream(JOBS_STREAM, declare=False),
        durable="cluster-manager-operate",
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        max_workers=concurrency,
        config=ConsumerConfig(
            ack_wait=settings.job_ack_wait_s, max_deliver=settings.job_max_deliver + 1
        ),
    )
    async def operate(job: ClusterOperationJob, msg: NatsMessage, clusters: Clusters) -> None:
        """Start, stop or restart one cluster; a job whose operation ended changes nothing."""
        await clusters.run_operation(job, msg, delivery_count(msg))

    return router
