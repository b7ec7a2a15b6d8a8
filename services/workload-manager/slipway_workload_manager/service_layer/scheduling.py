"""Queuing rollouts, applies and helm operations in the open unit of work (committed with
the change that asked for them), and the deadlines they run against."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from slipway_contracts import subjects
from slipway_contracts.entities import Deployment
from slipway_contracts.jobs import ApplyServiceJob, ReleaseJob, RolloutJob
from slipway_libs.aggregate import utcnow
from slipway_libs.unit_of_work import UnitOfWork
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.release import ReleaseAggregate
from slipway_workload_manager.settings import WorkloadManagerSettings

ROLLOUT_SUBJECT = subjects.job(subjects.DEPLOYMENT, "rollout")
APPLY_SUBJECT = subjects.job(subjects.SERVICE, "apply")
RELEASE_SUBJECT = subjects.job(subjects.RELEASE, "operate")
ReleaseAction = Literal["install", "upgrade", "rollback", "uninstall"]


def queue_rollout(uow: UnitOfWork, deployment: DeploymentAggregate) -> None:
    """Queue the Deployment's current rollout."""
    job = RolloutJob(deployment_id=deployment.id, rollout_id=deployment.state.rollout_id or "")
    uow.queue_job(ROLLOUT_SUBJECT, job, msg_id=job.rollout_id)


def queue_apply(uow: UnitOfWork, kube_service: KubeServiceAggregate) -> None:
    """Queue the Kubernetes Service's current apply."""
    job = ApplyServiceJob(service_id=kube_service.id, apply_id=kube_service.state.apply_id or "")
    uow.queue_job(APPLY_SUBJECT, job, msg_id=job.apply_id)


def queue_release(
    uow: UnitOfWork, release: ReleaseAggregate, action: ReleaseAction, revision: int | None = None
) -> None:
    """Queue the release's current helm operation."""
    job = ReleaseJob(
        release_id=release.id,
        operation_id=release.state.operation_id or "",
        action=action,
        revision=revision,
    )
    uow.queue_job(RELEASE_SUBJECT, job, msg_id=job.operation_id)


def deadline_in(seconds: float) -> datetime:
    """The moment `seconds` from now."""
    return utcnow() + timedelta(seconds=seconds)


def rollout_deadline(settings: WorkloadManagerSettings, progress_deadline_seconds: int) -> datetime:
    """When a rollout still pending or updating fails: its progress deadline plus a margin
    (the time to hand the image over and apply the manifest)."""
    return deadline_in(progress_deadline_seconds + settings.rollout_deadline_margin_s)


def service_deadline(settings: WorkloadManagerSettings, deployment: Deployment) -> datetime:
    """When a Kubernetes Service still without ready endpoints fails: not before its
    deployment's rollout could have finished."""
    rollout = deployment.progress_deadline_seconds + settings.rollout_deadline_margin_s
    return deadline_in(max(settings.service_deadline_s, rollout))


def endpoints_deadline(settings: WorkloadManagerSettings) -> datetime:
    """When a Kubernetes Service that lost its endpoints (or is applied again after its
    cluster's outage) fails unless it has them again."""
    return deadline_in(settings.service_deadline_s)


def release_deadline(settings: WorkloadManagerSettings, timeout_seconds: int) -> datetime:
    """When an install, upgrade or rollback still under way fails: the release's timeout
    plus a margin (the time to fetch the chart and hand its images over)."""
    return deadline_in(timeout_seconds + settings.release_deadline_margin_s)
