"""`ChartSource` over NATS: the chart-validator answers `slipway.helm_chart.query.source`
with a chart's files as a base64 `.tgz` (never its database, never its disk)."""

from __future__ import annotations

import base64
import binascii

from faststream.nats import NatsBroker
from pydantic import ValidationError

from slipway_contracts import subjects
from slipway_contracts.queries import ChartSourceAnswer, ChartSourceQuery
from slipway_keys.principals import Signer
from slipway_libs.errors import SlipwayError
from slipway_libs.requests import request

from ..domain.ports import ChartArchive


class NatsChartSource:
    """Asks the chart-validator through the service's own NATS connection."""

    def __init__(
        self, broker: NatsBroker, *, timeout_s: float, signer: Signer | None = None
    ) -> None:
        self.broker = broker
        self.timeout_s = timeout_s
        self.signer = signer

    async def archive(self, chart_id: str) -> ChartArchive:
        data = await request(
            self.broker.connection,
            subjects.query(subjects.HELM_CHART, "source"),
            ChartSourceQuery(id=chart_id).model_dump(),
            timeout_s=self.timeout_s,
            signer=self.signer,
        )
        try:
            answer = ChartSourceAnswer.model_validate(data)
            archive = base64.b64decode(answer.archive or "", validate=True)
        except (ValidationError, binascii.Error) as exc:
            raise SlipwayError(
                f"the chart-validator's answer for chart '{chart_id}' is unusable"
            ) from exc
        if not archive:
            raise SlipwayError(f"the chart-validator sent no files for chart '{chart_id}'")
        return ChartArchive(answer.id, answer.name, answer.version, answer.app_version, archive)
