"""Webhook subscriptions: SLIPWAY_EVENTS pushed to HTTP receivers (`/api/webhooks`).

A delivery is one CloudEvent in the HTTP binding's structured mode (`Content-Type:
application/cloudevents+json`), signed the Standard Webhooks way: `webhook-id` (the
CloudEvent's id), `webhook-timestamp` (Unix seconds), `webhook-signature` (`v1,<base64 of
HMAC-SHA256 over "<id>.<timestamp>.<body>" with the subscription's `whsec_` secret>`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from slipway_contracts.common import Model
from slipway_contracts.events import CloudEvent

TypePattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9.*?_\-\[\]]+$",
        description="a CloudEvents type, or a glob: io.slipway.deployment.*, *",
    ),
]


class WebhookStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # after repeated failure; no more deliveries


class CreateWebhook(Model):
    """Body of `POST /api/webhooks`."""

    url: str = Field(
        min_length=1,
        max_length=2000,
        description="http(s) URL of the receiver; its host must be in the gateway's "
        "allow-list (SLIPWAY_WEBHOOK_ALLOWED_TARGETS; default loopback only)",
    )
    events: list[TypePattern] = Field(
        min_length=1, max_length=50, description="the event types it receives"
    )
    description: str | None = Field(None, max_length=500)


class Webhook(Model):
    """A subscription as listed: never its secret, which only its creation shows, once."""

    id: str
    url: str
    events: list[str]
    description: str | None = None
    status: WebhookStatus
    disabled_reason: str | None = None
    created_at: datetime
    created_by: str | None = None
    last_updated: datetime
    revision: int = Field(ge=1)


class CreatedWebhook(Webhook):
    secret: str = Field(
        description="the `whsec_` signing secret; shown this once, stored encrypted"
    )


class WebhookPage(Model):
    """`GET /api/webhooks`: `{"items": [...], "next_cursor": ...}`."""

    items: list[Webhook]
    next_cursor: str | None = None


class DeliveryOutcome(StrEnum):
    DELIVERED = "delivered"  # the receiver answered 2xx
    RETRYING = "retrying"  # failed; it is tried again at `next_attempt_at`
    GIVEN_UP = "given_up"  # failed its last attempt
    DROPPED = "dropped"  # never sent: the subscription was disabled first


class WebhookDelivery(Model):
    """One attempt to deliver one event to one subscription (the delivery log)."""

    id: str
    webhook_id: str
    event_id: str = Field(description="the CloudEvent's id (also the `webhook-id` header)")
    event_type: str
    sequence: int = Field(description="the event's SLIPWAY_EVENTS sequence")
    attempt: int = Field(ge=1)
    outcome: DeliveryOutcome
    status_code: int | None = Field(None, description="the receiver's HTTP status, if any")
    error: str | None = Field(None, description="why it failed, when it did")
    attempted_at: datetime
    duration_ms: int | None = None
    next_attempt_at: datetime | None = None


class DeliveryPage(Model):
    """`GET /api/webhooks/{id}/deliveries`: newest first."""

    items: list[WebhookDelivery]
    next_cursor: str | None = None


class WebhookData(Webhook):
    previous_status: str | None = None


class WebhookDisabled(CloudEvent):
    """A subscription was disabled after repeated failed deliveries; `disabled_reason` says
    which event and why. (`slipway.events.webhook.disabled`, published by the gateway.)"""

    data: WebhookData  # type: ignore[assignment]
