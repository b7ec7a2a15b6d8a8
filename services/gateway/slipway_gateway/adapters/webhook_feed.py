"""The events each webhook subscription is to receive: taken from SLIPWAY_EVENTS into the
subscriptions' delivery queues (`WebhookStore.enqueue`), for `WebhookDispatcher` to send.

One durable pull consumer (`gateway-webhooks`, see `DurableFeed`), shared by every gateway
replica, so each event is queued once whichever replica takes it, and none is lost across
restarts: an event is acked only once it is queued for every active subscription whose
patterns match it (queueing is idempotent, so a redelivered event changes nothing).

While no subscription is active, the feed takes the events in batches, once every `IDLE_S`
or as soon as a subscription changes: nothing is to be sent, and an event each time would
cost a fetch and an ack per event.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from slipway_contracts import subjects
from slipway_gateway.adapters.background import RETRY_S
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.adapters.durable_feed import BATCH, DurableFeed
from slipway_gateway.adapters.event_stream import type_matches
from slipway_gateway.adapters.webhook_store import Pending, Subscriber, WebhookStore
from slipway_libs.errors import Unavailable

log = logging.getLogger(__name__)

DURABLE = "gateway-webhooks"
IDLE_S = 1.0


def wants(subscriber: Subscriber, sequence: int, event_type: str) -> bool:
    return sequence > subscriber.start_seq and any(
        type_matches(pattern, event_type) for pattern in subscriber.events
    )


class WebhookFeed(DurableFeed):
    name = "webhook feed"
    stream = subjects.EVENTS_STREAM
    subject = subjects.EVENTS_WILDCARD
    durable = DURABLE
    # From the stream's start when first made: a subscription made before the consumer (the
    # first start) must not miss what came after it; what came before a subscription is
    # passed over (`start_seq`).
    deliver_policy = DeliverPolicy.ALL

    def __init__(self, bus: CommandBus, store: WebhookStore, fetch_timeout_s: float = 5.0) -> None:
        super().__init__(bus, fetch_timeout_s)
        self.store = store

    async def take(self, messages: list[Msg]) -> None:
        """Queue each event for the subscriptions that want it, then ack it, in order."""
        reading = self.store.subscribers.reading()
        subscribers = await self.store.active()
        await self.queue(messages, subscribers)
        if not subscribers and len(messages) < BATCH:
            await self.store.subscribers.change_after(reading, IDLE_S)

    async def queue(self, messages: list[Msg], subscribers: list[Subscriber]) -> None:
        now = datetime.now(UTC)
        for msg in messages:
            if not subscribers:  # no one to send it to: taken as it is, unread
                await msg.ack()
                continue
            sequence = msg.metadata.sequence.stream
            try:
                event = json.loads(msg.data)
                event_id, event_type = str(event["id"]), str(event["type"])
            except (ValueError, KeyError, TypeError):
                log.error("not a CloudEvent; not delivered", extra={"subject": msg.subject})
                await msg.term()
                continue
            pending = [
                Pending(s.id, sequence, event_id, event_type, msg.data, 0, now)
                for s in subscribers
                if wants(s, sequence, event_type)
            ]
            try:
                await self.store.enqueue(pending)
            except Unavailable:
                await msg.nak(delay=RETRY_S * 5)
                raise
            await msg.ack()
