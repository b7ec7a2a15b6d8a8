"""Recording the alerts Alertmanager delivers (through the gateway) and reading them."""

from __future__ import annotations

from typing import Any

from slipway_cluster_manager.domain.alert import AlertAggregate
from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_contracts.commands import RecordAlerts
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs.messaging import entity_reply, page_reply
from slipway_libs.unit_of_work import idempotent


@idempotent
async def record_alerts(deps: Dependencies, command: RecordAlerts) -> dict[str, Any]:
    """Record each delivered alert (new, changed or repeated) with its event, in one
    transaction; answers how many changed and the alerts as now recorded."""
    async with deps.uow:
        recorded, changed = [], 0
        for received in command.alerts:
            alert = await deps.alerts.find(received.fingerprint)
            if alert is None:
                alert = AlertAggregate.received(received)
                deps.alerts.add(alert)
                changed += 1
            elif alert.receive(received):
                changed += 1
            recorded.append(alert)
        answer = {"changed": changed, "alerts": [alert.snapshot() for alert in recorded]}
        return await deps.uow.commit(answer=answer)


async def get_alert(deps: Dependencies, query: GetEntity) -> dict[str, Any]:
    """One alert (NotFound naming it)."""
    return await entity_reply(deps.alerts, query.id)


async def list_alerts(deps: Dependencies, query: ListEntities) -> dict[str, Any]:
    """One page of alerts, oldest first, optionally `firing` or `resolved` only."""
    return await page_reply(deps.alerts, query)
