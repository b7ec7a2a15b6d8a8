"""Work-queue handlers: rollout and apply jobs from SLIPWAY_JOBS (durable, acked on
completion, heartbeats while they wait for the cluster)."""

from __future__ import annotations

from typing import Annotated

from faststream import Context
from faststream.nats import NatsMessage, NatsRouter

from slipway_contracts.jobs import ApplyServiceJob, RolloutJob
from slipway_libs.jobs import delivery_count, job_subscriber
from slipway_workload_manager.rollouts import Rollouts
from slipway_workload_manager.scheduling import APPLY_SUBJECT, ROLLOUT_SUBJECT
from slipway_workload_manager.settings import WorkloadManagerSettings

RolloutRunner = Annotated[Rollouts, Context("rollouts")]


def job_router(settings: WorkloadManagerSettings) -> NatsRouter:
    """The rollout and apply consumers, `rollout_concurrency` and
    `service_apply_concurrency` jobs at a time."""
    router = NatsRouter()

    @job_subscriber(
        router,
        ROLLOUT_SUBJECT,
        "workload-manager-rollout",
        settings,
        max_workers=settings.rollout_concurrency,
        max_ack_pending=settings.rollout_concurrency * 4,
    )
    async def rollout(job: RolloutJob, msg: NatsMessage, rollouts: RolloutRunner) -> None:
        """Roll one Deployment out; a job for a rollout that is no longer current is dropped."""
        await rollouts.run_rollout(job, msg, delivery_count(msg))

    @job_subscriber(
        router,
        APPLY_SUBJECT,
        "workload-manager-apply",
        settings,
        max_workers=settings.service_apply_concurrency,
    )
    async def apply(job: ApplyServiceJob, msg: NatsMessage, rollouts: RolloutRunner) -> None:
        """Apply one Service and follow it until it has endpoints."""
        await rollouts.run_apply(job, msg, delivery_count(msg))

    return router
