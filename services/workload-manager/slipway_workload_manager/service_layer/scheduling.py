"""Queuing rollouts and applies through the outbox, and the deadlines they run against."""

from __future__ import annotations

from datetime import datetime

from slipway_contracts import subjects
from slipway_contracts.entities import Deployment
from slipway_contracts.jobs import ApplyServiceJob, RolloutJob
from slipway_libs.messaging import JOBS_STREAM
from slipway_libs.storage import Repository, UnitOfWork, deadline_in
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.service import ServiceAggregate
from slipway_workload_manager.settings import WorkloadManagerSettings

Deployments = Repository[DeploymentAggregate]
Services = Repository[ServiceAggregate]

ROLLOUT_SUBJECT = subjects.job(subjects.DEPLOYMENT, "rollout")
APPLY_SUBJECT = subjects.job(subjects.SERVICE, "apply")


async def queue_rollout(uow: UnitOfWork, deployment: DeploymentAggregate) -> None:
    """Queue the Deployment's current rollout, committed with the change that asked for it."""
    job = RolloutJob(deployment_id=deployment.id, rollout_id=deployment.state.rollout_id or "")
    await uow.add_outbox(
        subject=ROLLOUT_SUBJECT, stream=JOBS_STREAM, payload=job.model_dump(), msg_id=job.rollout_id
    )


async def queue_apply(uow: UnitOfWork, service: ServiceAggregate) -> None:
    """Queue the Service's current apply, committed with the change that asked for it."""
    job = ApplyServiceJob(service_id=service.id, apply_id=service.state.apply_id or "")
    await uow.add_outbox(
        subject=APPLY_SUBJECT, stream=JOBS_STREAM, payload=job.model_dump(), msg_id=job.apply_id
    )


def rollout_deadline(settings: WorkloadManagerSettings, progress_deadline_seconds: int) -> datetime:
    """When a rollout still pending or updating fails: its progress deadline plus a margin
    (the time to hand the image over and apply the manifest)."""
    return deadline_in(progress_deadline_seconds + settings.rollout_deadline_margin_s)


def service_deadline(settings: WorkloadManagerSettings, deployment: Deployment) -> datetime:
    """When a Service still without ready endpoints fails: not before its deployment's
    rollout could have finished."""
    rollout = deployment.progress_deadline_seconds + settings.rollout_deadline_margin_s
    return deadline_in(max(settings.service_deadline_s, rollout))
