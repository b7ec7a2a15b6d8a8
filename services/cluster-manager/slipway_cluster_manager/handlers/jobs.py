"""Work-queue handlers: cluster operations from SLIPWAY_JOBS (durable, acked on completion)."""

from __future__ import annotations

import functools

from faststream.nats import NatsRouter

from slipway_cluster_manager.handlers.context import Deps
from slipway_cluster_manager.service_layer.operations import (
    OPERATE,
    abandon_operation,
    carry_out_operation,
)
from slipway_contracts.jobs import ClusterOperationJob
from slipway_libs.jobs import job_subscriber, run_job
from slipway_libs.settings import CommonSettings
from slipway_libs.worker import JetStreamMessage


def job_router(settings: CommonSettings, concurrency: int) -> NatsRouter:
    """The operation-job consumer, with the ack deadline and redelivery bound of `settings`."""
    router = NatsRouter()

    @job_subscriber(router, OPERATE, "cluster-manager-operate", settings, max_workers=concurrency)
    async def operate(job: ClusterOperationJob, msg: JetStreamMessage, deps: Deps) -> None:
        """Start, stop, restart or delete a cluster; a job whose operation ended does nothing."""
        await run_job(
            msg,
            deps.settings,
            work=functools.partial(carry_out_operation, deps, job),
            give_up=functools.partial(abandon_operation, deps, job),
        )

    return router
