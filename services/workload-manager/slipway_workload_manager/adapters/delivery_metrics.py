"""Delivery metrics (DORA) from the deployment events this service publishes:

- `slipway_deployments_total{outcome}`: rollouts that ended `running` (succeeded) or
  `failed`; deployments per day and the change failure rate are rules over it
  (`slipway:deployments:per_day`, `slipway:change_failure_rate:ratio_7d`);
- `slipway_deployment_lead_time_seconds`: from the image's creation to the deployment
  running it;
- `slipway_deployment_time_to_restore_seconds`: from a deployment failing to it running
  again (kept in memory: a failure before a restart of this service is not timed).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Histogram

from slipway_contracts import subjects
from slipway_workload_manager.adapters.projections import Projections

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
