"""`/api/alerts`: the alerts Prometheus raised, as Alertmanager delivered them.

Alertmanager posts to `POST /api/alerts/webhook` with the shared secret as its bearer
credential (`SLIPWAY_ALERTMANAGER_SECRET_FILE`; the authorization middleware checks it);
the gateway only translates the delivery into the command `slipway.alert.cmd.record`. The
cluster-manager owns the alerts: it records each one (firing or resolved, linked to the
entity its labels name) and publishes `slipway.events.alert.firing|resolved`.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field

from slipway_contracts import subjects
from slipway_contracts.commands import ReceivedAlert
from slipway_contracts.common import Model
from slipway_contracts.entities import Alert, AlertStatus
from slipway_gateway.entrypoints.http import (
    BEARER,
    Bus,
    CommandId,
    DocumentedRoute,
    PrefixRouter,
    problems,
)
from slipway_gateway.entrypoints.resources import Resource, ResourceRoutes

ALERTS = Resource(
    entity=subjects.ALERT,
    path="/api/alerts",
    model=Alert,
    statuses=AlertStatus,
    noun="alert",
    tag="alerts",
)


class AlertmanagerDelivery(Model):
    """Alertmanager's webhook payload (version 4); fields Slipway does not use are ignored."""

    model_config = ConfigDict(extra="ignore")

    version: str | None = None
    receiver: str | None = None
    status: str | None = None
    alerts: list[ReceivedAlert] = Field(min_length=1, max_length=1000)


class Recorded(Model):
    changed: int = Field(description="alerts new or changed by this delivery")
    alerts: list[Alert]


webhook = PrefixRouter(prefix=ALERTS.path, tags=[ALERTS.tag], route_class=DocumentedRoute)


@webhook.post(
    "/webhook",
    response_model=Recorded,
    responses=problems(401, 503),  # the shared secret only: no role, so no 403
    openapi_extra={"security": [{BEARER.scheme_name: []}]},
)
async def receive_alerts(delivery: AlertmanagerDelivery, bus: Bus, command_id: CommandId) -> Any:
    """Alertmanager's receiver: record each delivered alert, firing or resolved. The bearer
    credential is the shared secret (`.slipway/alertmanager.secret` under `make run`), not
    an API token. Repeated deliveries change nothing."""
    payload = {"alerts": [a.model_dump(mode="json", by_alias=True) for a in delivery.alerts]}
    reply = await ALERTS.command(bus, "record", payload, command_id)
    return JSONResponse(reply)


routes = ResourceRoutes(ALERTS)
routes.add_list(
    "Alerts oldest first, `?status=firing` or `resolved`; each is linked to the entity its "
    "labels name (`target_kind`, `target_id`)."
)
routes.add_get()
router = routes.router
