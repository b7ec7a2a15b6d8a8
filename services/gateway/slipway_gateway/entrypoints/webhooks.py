"""`/api/webhooks` (admin): subscriptions that push events to HTTP receivers, and their
delivery log. What a delivery looks like: `slipway_contracts.webhooks`; how it is
delivered: `adapters.webhook_dispatcher`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from nats.errors import Error as NatsError

from slipway_contracts import subjects
from slipway_contracts.events import CloudEvent
from slipway_contracts.webhooks import (
    CreatedWebhook,
    CreateWebhook,
    DeliveryPage,
    Webhook,
    WebhookPage,
)
from slipway_gateway.access.webhook_targets import AllowList
from slipway_gateway.adapters.webhook_signing import new_secret
from slipway_gateway.adapters.webhook_store import WebhookStore
from slipway_gateway.entrypoints.http import (
    AUTHENTICATED,
    Bus,
    Caller,
    DocumentedRoute,
    PrefixRouter,
    no_content,
)
from slipway_libs.errors import NotFound, Unavailable

router = PrefixRouter(
    prefix="/api/webhooks",
    tags=["webhooks"],
    route_class=DocumentedRoute,
    dependencies=[AUTHENTICATED],
)


async def webhook_store(request: Request) -> WebhookStore:
    return request.app.state.webhooks  # type: ignore[no-any-return]


Webhooks = Annotated[WebhookStore, Depends(webhook_store)]


async def last_sequence(bus: Bus) -> int:
    """SLIPWAY_EVENTS' last sequence: a new subscription receives what comes after it."""
    if bus.nc is None or not bus.nc.is_connected:
        raise Unavailable("NATS is not connected")
    try:
        info = await bus.nc.jetstream().stream_info(subjects.EVENTS_STREAM)
    except (NatsError, OSError) as exc:
        raise Unavailable(f"NATS: {exc!r}") from exc
    return int(info.state.last_seq)


async def found(store: WebhookStore, webhook_id: str) -> Webhook:
    webhook = await store.get(webhook_id)
    if webhook is None:
        raise NotFound(f"webhook '{webhook_id}' does not exist")
    return webhook


@router.post("", status_code=201, response_model=CreatedWebhook)
async def create_webhook(
    request: Request, body: CreateWebhook, store: Webhooks, bus: Bus, caller: Caller
) -> JSONResponse:
    """Subscribe a receiver to the events whose type matches one of `events` (201). The
    `whsec_` signing secret is in `secret`, shown this once. It receives the events from
    now on, each once, in order, retried with backoff; after repeated failure it is
    disabled (event `io.slipway.webhook.disabled.v1`). The URL's host must be in the
    allow-list (`SLIPWAY_WEBHOOK_ALLOWED_TARGETS`, loopback by default): else 422."""
    AllowList.parse(request.app.state.settings.webhook_allowed_targets).check(body.url)
    start = await last_sequence(bus)
    created = await store.create(body, new_secret(), start, caller.name, datetime.now(UTC))
    headers = {"Location": f"{router.prefix}/{created.id}", "Cache-Control": "no-store"}
    return JSONResponse(created.model_dump(mode="json"), status_code=201, headers=headers)


@router.get("", response_model=WebhookPage)
async def list_webhooks(
    store: Webhooks, cursor: str | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> JSONResponse:
    """Subscriptions oldest first (never a secret)."""
    items, next_cursor = await store.page(cursor, limit)
    return JSONResponse(WebhookPage(items=items, next_cursor=next_cursor).model_dump(mode="json"))


@router.get("/{webhook_id}", response_model=Webhook)
async def get_webhook(webhook_id: str, store: Webhooks) -> JSONResponse:
    return JSONResponse((await found(store, webhook_id)).model_dump(mode="json"))


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, store: Webhooks) -> Response:
    """Remove a subscription; what it had still to receive is not sent."""
    if not await store.delete(webhook_id):
        raise NotFound(f"webhook '{webhook_id}' does not exist")
    return no_content()


@router.post("/{webhook_id}/enable", response_model=Webhook)
async def enable_webhook(webhook_id: str, store: Webhooks, bus: Bus) -> JSONResponse:
    """Make a disabled subscription active again (after fixing its receiver). It receives
    the events from now on; those published while it was disabled are not sent (read them
    from `GET /api/events?since=`). An active subscription is answered as it is."""
    enabled = await store.enable(webhook_id, await last_sequence(bus), datetime.now(UTC))
    if enabled is None:
        raise NotFound(f"webhook '{webhook_id}' does not exist")
    return JSONResponse(enabled.model_dump(mode="json"))


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: str,
    store: Webhooks,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    """The delivery log, newest first: one entry per attempt (event, attempt number,
    outcome, the receiver's status code or the error, when the next attempt is due)."""
    await found(store, webhook_id)
    items, next_cursor = await store.log_page(webhook_id, cursor, limit)
    return JSONResponse(DeliveryPage(items=items, next_cursor=next_cursor).model_dump(mode="json"))


def document_deliveries(app: FastAPI) -> None:
    """What a receiver gets, in the OpenAPI document's `webhooks`."""

    @app.webhooks.post("slipway-event", tags=["webhooks"], status_code=204)
    def slipway_event(
        body: Annotated[CloudEvent, Body(media_type="application/cloudevents+json")],
        webhook_id: Annotated[str, Header(description="the CloudEvent's id")],
        webhook_timestamp: Annotated[str, Header(description="Unix seconds")],
        webhook_signature: Annotated[
            str,
            Header(description='`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`'),
        ],
    ) -> None:
        """One event, delivered to a subscription: the CloudEvent in the HTTP binding's
        structured mode, signed the Standard Webhooks way with the subscription's `whsec_`
        secret. Answer 2xx to take it; anything else (or no answer within
        `SLIPWAY_WEBHOOK_TIMEOUT_S`) is retried with backoff, the next event waiting."""
