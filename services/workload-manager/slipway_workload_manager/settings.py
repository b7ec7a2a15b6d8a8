"""Workload-manager settings (`SLIPWAY_*` environment variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from slipway_libs.settings import CommonSettings


class WorkloadManagerSettings(CommonSettings):
    database: str = "slipway_workload_manager"
    # The image policy (SLIPWAY_IMAGE_POLICY, shared with the image-builder): under enforce,
    # an image whose latest scan found critical problems is refused a Deployment.
    image_policy: Literal["warn", "enforce"] = "warn"
    # How often drift, live status, cluster reactions and deadlines are checked.
    reconcile_interval_s: float = Field(10.0, gt=0)
    # How often running deployments' pod usage is read for the metrics (metrics-server: 15 s).
    usage_interval_s: float = Field(15.0, gt=0)
    # Rollouts followed at once; each waits for its Deployment to become available (a
    # waiting rollout costs little: one shared watch per namespace tells them all).
    rollout_concurrency: int = Field(64, ge=1)
    service_apply_concurrency: int = Field(16, ge=1)
    # A rollout still pending/updating this long after its progress deadline fails.
    rollout_deadline_margin_s: float = Field(30.0, ge=0)
    # A Service still without ready endpoints this long after it was applied fails
    # (at least its deployment's progress deadline plus the margin).
    service_deadline_s: float = Field(180.0, gt=0)
    service_poll_interval_s: float = Field(1.0, gt=0)
    # Cluster-manager requests: the kubeconfig query, and image loads (which copy a
    # whole image into the cluster).
    cluster_manager_timeout_s: float = Field(10.0, gt=0)
    image_load_timeout_s: float = Field(600.0, gt=0)
    # A DELETE waits this long for the cluster to remove the object; past it the record
    # goes anyway and the reconcile loop removes the object later.
    delete_timeout_s: float = Field(5.0, gt=0)
    # Live objects looked at in parallel by the reconcile loop.
    observe_concurrency: int = Field(16, ge=1)
    # Releases: helm operations run at once (each follows its workloads until available),
    # the time beyond a release's `timeout_seconds` to fetch the chart and hand its images
    # over before it fails, and the bound on helm's quick calls (history, manifest, template)
    # and on the chart-validator's answer with a chart's files.
    release_concurrency: int = Field(8, ge=1)
    release_deadline_margin_s: float = Field(60.0, ge=0)
    helm_timeout_s: float = Field(60.0, gt=0)
    chart_source_timeout_s: float = Field(30.0, gt=0)
