"""Webhook deliveries: each subscription's queue sent to its receiver, in order.

Only the head of a queue is sent: event N+1 waits until N was delivered or given up. A
failed attempt (no answer, or not 2xx) is tried again after a backoff doubling from
`webhook_backoff_initial_s` up to `webhook_backoff_max_s`; after `webhook_max_attempts`
it is given up and the subscription is disabled (its queue dropped), announced by the event
`io.slipway.webhook.disabled.v1`. A receiver that was down meanwhile gets its backlog
once it answers again. Every attempt is in the delivery log.

Several gateway replicas share the queues: a lease on the subscription (`lease_owner`)
lets one replica at a time deliver it, so no event is sent twice, except the one in flight
when a replica dies (receivers de-duplicate on `webhook-id`, as Standard Webhooks asks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from slipway_contracts import subjects
from slipway_contracts.webhooks import (
    DeliveryOutcome,
    Webhook,
    WebhookData,
    WebhookDelivery,
    WebhookDisabled,
)
from slipway_gateway.access.webhook_targets import AllowList
from slipway_gateway.adapters import webhook_signing
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.adapters.webhook_store import Pending, Subscriber, WebhookStore
from slipway_gateway.settings import GatewaySettings
from slipway_libs.errors import InvalidInput, SlipwayError
from slipway_libs.runtime import cancelled

log = logging.getLogger(__name__)

ERROR_CHARS = 300
DISABLED = subjects.event(subjects.WEBHOOK, "disabled")


def attempt_id(now: datetime) -> str:
    """Sortable by time, unique."""
    return f"{int(now.timestamp() * 1000):013d}-{uuid.uuid4().hex[:12]}"


class WebhookDispatcher:
    def __init__(self, store: WebhookStore, bus: CommandBus, settings: GatewaySettings) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings
        self.targets = AllowList.parse(settings.webhook_allowed_targets)
        self.owner = settings.instance
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._draining: dict[str, asyncio.Task[None]] = {}
        self._all_announced: int | None = None  # the subscriptions' reading when none was left

    @property
    def lease_s(self) -> float:
        return 2 * self.settings.webhook_timeout_s + 10

    def backoff_s(self, attempt: int) -> float:
        """The wait before attempt `attempt + 1`."""
        initial = self.settings.webhook_backoff_initial_s
        return float(min(initial * 2 ** (attempt - 1), self.settings.webhook_backoff_max_s))

    def start(self) -> None:
        # No proxies from the environment, no redirects: a delivery goes where the allow-list
        # said it may, and nowhere else.
        self._http = httpx.AsyncClient(
            timeout=self.settings.webhook_timeout_s, follow_redirects=False, trust_env=False
        )
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        await cancelled(self._task, *self._draining.values())
        if self._http is not None:
            await self._http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except SlipwayError as exc:
                log.warning("webhook deliveries paused", extra={"error": exc.message})
            except Exception:
                log.warning("webhook deliveries failed; going on", exc_info=True)
            await asyncio.sleep(self.settings.webhook_poll_interval_s)

    async def tick(self) -> None:
        """Announce disabled subscriptions; start draining each queue with events due."""
        await self.announce_disabled()
        if not await self.store.active():  # nothing can be delivered (nor queued)
            return
        for webhook_id in await self.store.queued_for():
            running = self._draining.get(webhook_id)
            if running is None or running.done():
                self._draining[webhook_id] = asyncio.create_task(self.drain(webhook_id))

    async def announce_disabled(self) -> None:
        """Announce the disabled subscriptions not announced yet. Once none is left, they are
        looked for again only after a subscription changed (or while that is not known)."""
        subscribers = self.store.subscribers
        reading = subscribers.reading()
        if reading == self._all_announced:
            return
        unannounced = await self.store.disabled_unannounced()
        for webhook in unannounced:
            await self.announce(webhook)
        self._all_announced = reading if not unannounced and subscribers.fresh else None

    async def drain(self, webhook_id: str) -> None:
        """Send a subscription's due events in order, under its lease."""
        try:
            await self._drain(webhook_id)
        except SlipwayError as exc:
            log.warning("webhook deliveries paused", extra={"error": exc.message})
        except Exception:
            log.warning("webhook deliveries failed; going on", exc_info=True)

    async def _drain(self, webhook_id: str) -> None:
        if not await self.store.take_lease(webhook_id, self.owner, now(), self.lease_s):
            return
        try:
            subscriber = next((s for s in await self.store.active() if s.id == webhook_id), None)
            while subscriber is not None:
                head = await self.store.head(webhook_id)
                if head is None or head.next_attempt_at > now():
                    return
                if not await self.store.take_lease(webhook_id, self.owner, now(), self.lease_s):
                    return
                attempt = await self.attempt(subscriber, head)
                await self.store.settle(head, attempt)
                if attempt.outcome == DeliveryOutcome.GIVEN_UP:
                    await self.disable(subscriber, head, attempt)
                    return
                if attempt.outcome == DeliveryOutcome.RETRYING:
                    return
        finally:
            with contextlib.suppress(SlipwayError):
                await self.store.release_lease(webhook_id, self.owner)

    async def attempt(self, subscriber: Subscriber, head: Pending) -> WebhookDelivery:
        """POST the event once; the attempt as logged."""
        assert self._http is not None
        started, at = time.monotonic(), now()
        status_code, error = None, None
        try:
            self.targets.check(subscriber.url)
            timestamp = int(time.time())
            headers = webhook_signing.headers(
                subscriber.secret, head.event_id, timestamp, head.body
            )
            response = await self._http.post(subscriber.url, content=head.body, headers=headers)
            status_code = response.status_code
            if not response.is_success:
                error = f"the receiver answered {status_code}"
        except InvalidInput as exc:
            error = exc.message
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS] or type(exc).__name__
        number = head.attempts + 1
        if error is None:
            outcome, next_at = DeliveryOutcome.DELIVERED, None
        elif number >= self.settings.webhook_max_attempts:
            outcome, next_at = DeliveryOutcome.GIVEN_UP, None
        else:
            outcome = DeliveryOutcome.RETRYING
            next_at = now() + timedelta(seconds=self.backoff_s(number))
        return WebhookDelivery(
            id=attempt_id(at),
            webhook_id=head.webhook_id,
            event_id=head.event_id,
            event_type=head.event_type,
            sequence=head.sequence,
            attempt=number,
            outcome=outcome,
            status_code=status_code,
            error=error,
            attempted_at=at,
            duration_ms=int((time.monotonic() - started) * 1000),
            next_attempt_at=next_at,
        )

    async def disable(
        self, subscriber: Subscriber, head: Pending, attempt: WebhookDelivery
    ) -> None:
        """Disable the subscription, drop (and log) what it still had queued, announce it."""
        reason = (
            f"event {head.sequence} ({head.event_type}) failed {attempt.attempt} attempts; "
            f"the last: {attempt.error}"
        )
        webhook = await self.store.disable(subscriber.id, reason, now())
        if webhook is None:
            return
        log.warning("webhook disabled", extra={"webhook_id": webhook.id, "reason": reason})
        for dropped in await self.store.drop_queue(subscriber.id):
            at = now()
            await self.store.log(
                WebhookDelivery(
                    id=attempt_id(at),
                    webhook_id=dropped.webhook_id,
                    event_id=dropped.event_id,
                    event_type=dropped.event_type,
                    sequence=dropped.sequence,
                    attempt=dropped.attempts + 1,
                    outcome=DeliveryOutcome.DROPPED,
                    error="not sent: the subscription was disabled",
                    attempted_at=at,
                )
            )
        try:
            await self.announce(webhook)
        except Exception as exc:  # the next tick announces it
            log.warning("webhook-disabled event not published yet", extra={"error": repr(exc)})

    async def announce(self, webhook: Webhook) -> None:
        """Publish `io.slipway.webhook.disabled.v1` (once: de-duplicated on its id)."""
        nc = self.bus.nc
        if nc is None or not nc.is_connected:
            return  # the next tick tries again
        event_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"slipway:webhook:{webhook.id}:{webhook.revision}")
        )
        event = WebhookDisabled(
            id=event_id,
            source="/slipway/gateway",
            type="io.slipway.webhook.disabled.v1",
            subject=webhook.id,
            time=webhook.last_updated,
            entityversion=webhook.revision,
            correlationid=webhook.id,
            data=WebhookData(**webhook.model_dump(), previous_status="active"),
        )
        body = json.dumps(event.model_dump(mode="json")).encode()
        await nc.jetstream().publish(
            DISABLED, body, stream=subjects.EVENTS_STREAM, headers={"Nats-Msg-Id": event_id}
        )
        await self.store.announced(webhook.id)


def now() -> datetime:
    return datetime.now(UTC)
