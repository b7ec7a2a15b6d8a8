"""The events each webhook subscription is to receive: taken from SLIPWAY_EVENTS into the
subscriptions' delivery queues (`WebhookStore.enqueue`), for `WebhookDispatcher` to send.

One durable pull consumer (`gateway-webhooks`), shared by every gateway replica, so each
event is queued once whichever replica takes it, and none is lost across restarts: an event
is acked only once it is queued for every active subscription whose patterns match it
(queueing is idempotent, so a redelivered event changes nothing). On any failure the feed
waits, then makes sure of the stream and the consumer again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from slipway_contracts import subjects
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.adapters.event_stream import type_matches
from slipway_gateway.adapters.webhook_store import Pending, Subscriber, WebhookStore
from slipway_libs.errors import Unavailable
from slipway_libs.messaging import ensure_streams

log = logging.getLogger(__name__)

DURABLE = "gateway-webhooks"
BATCH = 100
RETRY_S = 1.0


def wants(subscriber: Subscriber, sequence: int, event_type: str) -> bool:
    return sequence > subscriber.start_seq and any(
        type_matches(pattern, event_type) for pattern in subscriber.events
    )


class WebhookFeed:
    def __init__(self, bus: CommandBus, store: WebhookStore, fetch_timeout_s: float = 5.0) -> None:
        self.bus = bus
        self.store = store
        self.fetch_timeout_s = fetch_timeout_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._consume(await self._connection())
            except Exception:  # whatever it was, the feed must go on: wait, then set up again
                log.warning("the webhook feed stopped; starting it again", exc_info=True)
            await asyncio.sleep(RETRY_S)

    async def _connection(self) -> Client:
        while self.bus.nc is None:
            await asyncio.sleep(RETRY_S)
        return self.bus.nc

    async def _consume(self, nc: Client) -> None:
        js = nc.jetstream()
        await ensure_streams(js, self.bus.settings.stream_replicas)
        config = ConsumerConfig(
            durable_name=DURABLE,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            # From the stream's start when first made: a subscription made before the
            # consumer (the first start) must not miss what came after it; what came before
            # a subscription is passed over (`start_seq`).
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=subjects.EVENTS_WILDCARD,
        )
        subscription = await js.pull_subscribe(
            subjects.EVENTS_WILDCARD, durable=DURABLE, stream=subjects.EVENTS_STREAM, config=config
        )
        try:
            while True:
                try:
                    messages = await subscription.fetch(BATCH, timeout=self.fetch_timeout_s)
                except TimeoutError:
                    continue
                await self.take(messages)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def take(self, messages: list[Msg]) -> None:
        """Queue each event for the subscriptions that want it, then ack it, in order."""
        subscribers = await self.store.active()
        now = datetime.now(UTC)
        for msg in messages:
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
