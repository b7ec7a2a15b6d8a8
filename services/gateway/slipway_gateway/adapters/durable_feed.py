"""A JetStream durable pull consumer the gateway reads in the background (`AuditFeed`,
`WebhookFeed`): shared by every gateway replica, so each message is taken by one of them;
it outlives NATS reconnects and restarts: on any failure it waits, then makes sure of the
streams and the consumer again. A subclass says which consumer and what `take` does with
each batch (acking what it has dealt with)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from slipway_gateway.adapters.background import RETRY_S, Restarting
from slipway_gateway.adapters.bus import CommandBus
from slipway_libs.messaging import ensure_streams

log = logging.getLogger(__name__)

BATCH = 100


class DurableFeed(Restarting):
    name: str  # of the task, in logs
    stream: str
    subject: str
    durable: str
    deliver_policy = DeliverPolicy.ALL

    def __init__(self, bus: CommandBus, fetch_timeout_s: float = 5.0) -> None:
        self.bus = bus
        self.fetch_timeout_s = fetch_timeout_s

    async def take(self, messages: list[Msg]) -> None:
        raise NotImplementedError

    async def run_once(self) -> None:
        await self._consume(await self._connection())

    async def _connection(self) -> Client:
        """The gateway's NATS connection, once it has one (the bus connects in the background)."""
        while self.bus.nc is None:
            await asyncio.sleep(RETRY_S)
        return self.bus.nc

    async def _consume(self, nc: Client) -> None:
        js = nc.jetstream()
        await ensure_streams(js, self.bus.settings.stream_replicas)
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30,
            deliver_policy=self.deliver_policy,
            filter_subject=self.subject,
        )
        subscription = await js.pull_subscribe(
            self.subject, durable=self.durable, stream=self.stream, config=config
        )
        try:
            while True:
                try:
                    messages = await subscription.fetch(BATCH, timeout=self.fetch_timeout_s)
                except TimeoutError:  # nothing to take (or NATS is reconnecting): ask again
                    continue
                await self.take(messages)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
