"""Jobs: long-running work queued on SLIPWAY_JOBS through the outbox."""

from __future__ import annotations

from slipway_contracts.common import Model


class BuildJob(Model):
    """Build one image (`slipway.jobs.container_image.build`)."""

    image_id: str
    build_id: str


class ValidateChartJob(Model):
    """Validate one chart (`slipway.jobs.helm_chart.validate`)."""

    chart_id: str
    validation_id: str
