"""The delivery (DORA) metrics the workload-manager derives from the deployment events it
publishes: outcomes, lead time from the image's creation, time to restore."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY

from slipway_contracts import subjects
from slipway_workload_manager.adapters.delivery_metrics import DeliveryMetrics
from slipway_workload_manager.domain.projections import ProjectedImage

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Images:
    def __init__(self, created_at: datetime) -> None:
        self.created_at = created_at

    async def image(self, image_id: str) -> ProjectedImage | None:
        return ProjectedImage(
            id=image_id,
            status="built",
            name="web",
            tag="1.0.0",
            created_at=self.created_at.isoformat(),
        )


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def event(status: str, at: datetime, deployment_id: str = "d-1") -> tuple[str, bytes]:
    body: dict[str, Any] = {
        "time": at.isoformat(),
        "data": {"id": deployment_id, "image_id": "i-1", "status": status},
    }
    return subjects.event(subjects.DEPLOYMENT, status), json.dumps(body).encode()


async def test_outcomes_lead_time_and_time_to_restore_are_observed():
    metrics = DeliveryMetrics(Images(created_at=T0))  # type: ignore[arg-type]
    before = {
        "succeeded": sample("slipway_deployments_total", outcome="succeeded"),
        "failed": sample("slipway_deployments_total", outcome="failed"),
        "lead": sample("slipway_deployment_lead_time_seconds_sum"),
        "restores": sample("slipway_deployment_time_to_restore_seconds_count"),
        "restore": sample("slipway_deployment_time_to_restore_seconds_sum"),
    }

    await metrics.observe(*event("running", T0 + timedelta(minutes=5)))
    await metrics.observe(*event("failed", T0 + timedelta(minutes=10)))
    await metrics.observe(*event("failed", T0 + timedelta(minutes=11)))  # still the same outage
    await metrics.observe(*event("running", T0 + timedelta(minutes=40)))
    await metrics.observe(*event("updated", T0 + timedelta(minutes=41)))  # not an outcome

    assert sample("slipway_deployments_total", outcome="succeeded") - before["succeeded"] == 2
    assert sample("slipway_deployments_total", outcome="failed") - before["failed"] == 2
    assert sample("slipway_deployment_lead_time_seconds_sum") - before["lead"] == 300 + 2400
    assert sample("slipway_deployment_time_to_restore_seconds_count") - before["restores"] == 1
    assert sample("slipway_deployment_time_to_restore_seconds_sum") - before["restore"] == 1800
