"""Work-queue handlers: rollout, apply and release (helm) jobs from SLIPWAY_JOBS (durable, acked on
completion, heartbeats while they wait for the cluster; see `slipway_libs.jobs.run_job`)."""

from __future__ import annotations

from functools import partial

from faststream.nats import NatsRouter

from slipway_contracts.jobs import ApplyServiceJob, ReleaseJob, RolloutJob
from slipway_libs.jobs import job_subscriber, run_job
from slipway_libs.worker import JetStreamMessage
from slipway_workload_manager.handlers.context import Deps
from slipway_workload_manager.service_layer import release_operations, rollouts
from slipway_workload_manager.service_layer.scheduling import (
    APPLY_SUBJECT,
    RELEASE_SUBJECT,
    ROLLOUT_SUBJECT,
)
from slipway_workload_manager.settings import WorkloadManagerSettings


async def rollout(job: RolloutJob, msg: JetStreamMessage, deps: Deps) -> None:
    """Roll one Deployment out; a job for a rollout that is no longer current is dropped."""
    work = partial(rollouts.roll_out, deps, job)
    await run_job(msg, deps.settings, work=work, give_up=partial(rollouts.fail_rollout, deps, job))


async def apply(job: ApplyServiceJob, msg: JetStreamMessage, deps: Deps) -> None:
    """Apply one Service and follow it until it has endpoints."""
    work = partial(rollouts.apply_service, deps, job)
    await run_job(msg, deps.settings, work=work, give_up=partial(rollouts.fail_apply, deps, job))


async def operate_release(job: ReleaseJob, msg: JetStreamMessage, deps: Deps) -> None:
    """Run helm for one Release and follow its workloads until they are available."""
    work = partial(release_operations.operate_release, deps, job)
    give_up = partial(release_operations.fail_release, deps, job)
    await run_job(msg, deps.settings, work=work, give_up=give_up)


def job_router(settings: WorkloadManagerSettings) -> NatsRouter:
    """The rollout, apply and release consumers, `rollout_concurrency`,
    `service_apply_concurrency` and `release_concurrency` jobs at a time."""
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
    job_subscriber(
        router,
        RELEASE_SUBJECT,
        "workload-manager-release",
        settings,
        max_workers=settings.release_concurrency,
    )(operate_release)
    return router
