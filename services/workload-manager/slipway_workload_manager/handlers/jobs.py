"""Work-queue handlers: rollout and apply jobs from SLIPWAY_JOBS (durable, acked on
completion, heartbeats while they wait for the cluster; see `slipway_libs.jobs.run_job`)."""

from __future__ import annotations

from functools import partial

from faststream.nats import NatsMessage, NatsRouter

from slipway_contracts.jobs import ApplyServiceJob, RolloutJob
from slipway_libs.jobs import job_subscriber, run_job
from slipway_workload_manager.handlers.context import Deps
from slipway_workload_manager.service_layer import rollouts
from slipway_workload_manager.service_layer.scheduling import APPLY_SUBJECT, ROLLOUT_SUBJECT
from slipway_workload_manager.settings import WorkloadManagerSettings


async def rollout(job: RolloutJob, msg: NatsMessage, deps: Deps) -> None:
    """Roll one Deployment out; a job for a rollout that is no longer current is dropped."""
    work = partial(rollouts.roll_out, deps, job)
    await run_job(msg, deps.settings, work=work, give_up=partial(rollouts.fail_rollout, deps, job))


async def apply(job: ApplyServiceJob, msg: NatsMessage, deps: Deps) -> None:
    """Apply one Service and follow it until it has endpoints."""
    work = partial(rollouts.apply_service, deps, job)
    await run_job(msg, deps.settings, work=work, give_up=partial(rollouts.fail_apply, deps, job))


def job_router(settings: WorkloadManagerSettings) -> NatsRouter:
    """The rollout and apply consumers, `rollout_concurrency` and
    `service_apply_concurrency` jobs at a time."""
    router = NatsRouter()
    job_subscriber(
        router,
        ROLLOUT_SUBJECT,
        "workload-manager-rollout",
        settings,
        max_workers=settings.rollout_concurrency,
        max_ack_pending=settings.rollout_concurrency * 4,
    )(rollout)
    job_subscriber(
        router,
        APPLY_SUBJECT,
        "workload-manager-apply",
        settings,
        max_workers=settings.service_apply_concurrency,
    )(apply)
    return router
