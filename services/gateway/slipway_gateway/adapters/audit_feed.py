"""The audit entries the worker services record of the commands they receive over NATS:
taken from the JetStream stream SLIPWAY_AUDIT into the gateway's audit log.

One durable pull consumer (`gateway-audit`) shared by every gateway replica; each entry is
stored (idempotent on `auditID`), then acked; one that is not an audit entry is logged
and terminated. The feed outlives NATS reconnects and restarts: on any failure it waits,
then makes sure of the stream and the consumer again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import ValidationError

from slipway_contracts import subjects
from slipway_contracts.access import AuditEvent
from slipway_gateway.adapters.audit_store import AuditStore
from slipway_gateway.adapters.bus import CommandBus
from slipway_libs.errors import Unavailable
from slipway_libs.messaging import ensure_streams

log = logging.getLogger(__name__)

DURABLE = "gateway-audit"
BATCH = 100
RETRY_S = 1.0


class AuditFeed:
    def __init__(self, bus: CommandBus, store: AuditStore, fetch_timeout_s: float = 5.0) -> None:
        self.bus = bus
        self.store = store
        self.fetch_timeout_s = fetch_timeout_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-feed")

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
                log.warning("the audit feed stopped; starting it again", exc_info=True)
            await asyncio.sleep(RETRY_S)

    async def _connection(self) -> Client:
        """The gateway's NATS connection, once it has one (the bus connects in the background)."""
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
            filter_subject=subjects.AUDIT_WILDCARD,
        )
        subscription = await js.pull_subscribe(
            subjects.AUDIT_WILDCARD, durable=DURABLE, stream=subjects.AUDIT_STREAM, config=config
        )
        try:
            while True:
                try:
                    messages = await subscription.fetch(BATCH, timeout=self.fetch_timeout_s)
                except TimeoutError:  # nothing to take (or NATS is reconnecting): ask again
                    continue
                for msg in messages:
                    await self.take(msg)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def take(self, msg: Msg) -> None:
        """Store one entry, then ack it; a malformed one is terminated, never retried."""
        try:
            entry = AuditEvent.model_validate_json(msg.data)
        except ValidationError as exc:
            # What is wrong and where, never the values (the message could hold anything).
            errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            log.error(
                "not an audit entry; dropped", extra={"subject": msg.subject, "errors": errors[:20]}
            )
            await msg.term()
            return
        try:
            await self.store.record(entry)
        except Unavailable:
            await msg.nak(delay=RETRY_S * 5)
            raise
        await msg.ack()
