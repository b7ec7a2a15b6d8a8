"""The events of approvals on SLIPWAY_EVENTS: `slipway.events.approval.<status>`
(`io.slipway.approval.<status>.v1`), one per revision, de-duplicated by JetStream on an id
made of the approval's id and revision (so announcing again publishes nothing twice)."""

from __future__ import annotations

import json
import uuid

from slipway_contracts import subjects
from slipway_contracts.approvals import Approval, ApprovalChanged, ApprovalData
from slipway_gateway.adapters.bus import CommandBus
from slipway_libs.errors import Unavailable

SOURCE = "/slipway/gateway"


def event_of(approval: Approval, previous_status: str | None) -> ApprovalChanged:
    status = str(approval.status)
    return ApprovalChanged(
        id=str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"slipway:approval:{approval.id}:{approval.revision}")
        ),
        source=SOURCE,
        type=f"io.slipway.{subjects.APPROVAL}.{status}.v1",
        subject=approval.id,
        time=approval.last_updated,
        entityversion=approval.revision,
        correlationid=approval.id,
        data=ApprovalData(**approval.model_dump(), previous_status=previous_status),
    )


class ApprovalEvents:
    def __init__(self, bus: CommandBus) -> None:
        self.bus = bus

    async def announce(self, approval: Approval, previous_status: str | None) -> None:
        """Publish the approval's event (Unavailable while NATS is down)."""
        nc = self.bus.nc
        if nc is None or not nc.is_connected:
            raise Unavailable("the message bus (NATS) is unavailable")
        event = event_of(approval, previous_status)
        await nc.jetstream().publish(
            subjects.event(subjects.APPROVAL, str(approval.status)),
            json.dumps(event.model_dump(mode="json")).encode(),
            stream=subjects.EVENTS_STREAM,
            headers={"Nats-Msg-Id": event.id},
        )
