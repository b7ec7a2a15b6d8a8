"""Delivery metrics (DORA) from the deployment events this service publishes:

- `slipway_deployments_total{outcome}`: rollouts that ended `running` (succeeded) or
  `failed`; deployments per day and the change failure rate are rules over it
  (`slipway:deployments:per_day`, `slipway:change_failure_rate:ratio_7d`);
- `slipway_deployment_lead_time_seconds`: from the image's creation to the deployment
  running it;
- `slipway_deployment_time_to_restore_seconds`: from a deployment failing to it running
  again (kept in memory: a failure before a restart of this service is not timed).

And the container usage of running deployments (`record_usage`), from the metrics API:
`slipway_deployment_cpu_usage_cores` and `slipway_deployment_memory_usage_bytes`.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from slipway_contracts import subjects
from slipway_contracts.entities import DeploymentUsage
from slipway_workload_manager.adapters.projections import Projections
from slipway_workload_manager.domain.usage import cpu_cores, memory_bytes

DEPLOYMENTS = Counter(
    "slipway_deployments_total", "Rollouts that ended, by outcome (succeeded, failed)", ["outcome"]
)
for _outcome in ("succeeded", "failed"):  # exported from the start, at 0
    DEPLOYMENTS.labels(_outcome)
DURATION_BUCKETS = (10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 86400, 7 * 86400)
LEAD_TIME = Histogram(
    "slipway_deployment_lead_time_seconds",
    "From an image's creation to a deployment running it",
    buckets=DURATION_BUCKETS,
)
TIME_TO_RESTORE = Histogram(
    "slipway_deployment_time_to_restore_seconds",
    "From a deployment failing to it running again",
    buckets=DURATION_BUCKETS,
)
RUNNING = subjects.event(subjects.DEPLOYMENT, "running")
FAILED = subjects.event(subjects.DEPLOYMENT, "failed")


class DeliveryMetrics:
    """Observes the published deployment events (`WorkerKit.observe_published`)."""

    def __init__(self, projections: Projections) -> None:
        self.projections = projections
        self.failed_at: dict[str, datetime] = {}

    async def observe(self, subject: str, payload: bytes) -> None:
        if subject not in (RUNNING, FAILED):
            return
        event: dict[str, Any] = json.loads(payload)
        at, data = datetime.fromisoformat(event["time"]), event["data"]
        deployment_id = str(data["id"])
        if subject == FAILED:
            DEPLOYMENTS.labels("failed").inc()
            self.failed_at.setdefault(deployment_id, at)
            return
        DEPLOYMENTS.labels("succeeded").inc()
        if (failed_at := self.failed_at.pop(deployment_id, None)) is not None:
            TIME_TO_RESTORE.observe(max((at - failed_at).total_seconds(), 0.0))
        image = await self.projections.image(data["image_id"]) if data.get("image_id") else None
        if image is not None and image.created_at:
            created = datetime.fromisoformat(image.created_at)
            LEAD_TIME.observe(max((at - created).total_seconds(), 0.0))


USAGE_LABELS = ["deployment_id", "name", "namespace", "cluster_id"]
CPU_USAGE = Gauge(
    "slipway_deployment_cpu_usage_cores", "CPU the Deployment's pods use", USAGE_LABELS
)
MEMORY_USAGE = Gauge(
    "slipway_deployment_memory_usage_bytes", "Memory the Deployment's pods use", USAGE_LABELS
)


def record_usage(deployment: dict[str, Any], usage: DeploymentUsage | None) -> None:
    """Export one running Deployment's usage (none: its series are dropped)."""
    labels = [str(deployment.get(k, "")) for k in ("id", "name", "namespace", "cluster_id")]
    if usage is None:
        for gauge in (CPU_USAGE, MEMORY_USAGE):
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)
        return
    CPU_USAGE.labels(*labels).set(cpu_cores(usage.cpu))
    MEMORY_USAGE.labels(*labels).set(memory_bytes(usage.memory))
