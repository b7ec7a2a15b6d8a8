"""Jobs: long-running work queued on SLIPWAY_JOBS through the outbox."""

from __future__ import annotations

from typing import Literal

from slipway_contracts.common import Model


class BuildJob(Model):
    """Build one image (`slipway.jobs.container_image.build`)."""

    image_id: str
    build_id: str


class ScanJob(Model):
    """Scan one image and keep its SBOM (`slipway.jobs.container_image.scan`)."""

    image_id: str
    scan_id: str


class ValidateChartJob(Model):
    """Validate one chart (`slipway.jobs.helm_chart.validate`)."""

    chart_id: str
    validation_id: str


class ClusterOperationJob(Model):
    """Start, stop, restart or delete one cluster (`slipway.jobs.minikube_cluster.operate`)."""

    cluster_id: str
    operation_id: str
    action: Literal["start", "stop", "restart", "delete"]


class RolloutJob(Model):
    """Apply one Deployment to its cluster and follow it (`slipway.jobs.deployment.rollout`)."""

    deployment_id: str
    rollout_id: str


class ApplyServiceJob(Model):
    """Apply one Service to its cluster (`slipway.jobs.service.apply`)."""

    service_id: str
    apply_id: str


class ReleaseJob(Model):
    """Run helm for one release (`slipway.jobs.release.operate`): install or upgrade,
    roll back to `revision`, or uninstall."""

    release_id: str
    operation_id: str
    action: Literal["install", "upgrade", "rollback", "uninstall"]
    revision: int | None = None
