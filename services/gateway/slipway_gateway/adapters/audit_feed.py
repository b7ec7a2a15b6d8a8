"""The audit entries the worker services record of the commands they receive over NATS:
taken from the JetStream stream SLIPWAY_AUDIT into the gateway's audit log.

One durable pull consumer (`gateway-audit`, see `DurableFeed`) shared by every gateway
replica; each entry is stored (idempotent on `auditID`), then acked; one that is not an
audit entry is logged and terminated.
"""

from __future__ import annotations

import logging

from nats.aio.msg import Msg
from pydantic import ValidationError

from slipway_contracts import subjects
from slipway_contracts.access import AuditEvent
from slipway_gateway.adapters.audit_store import AuditStore
from slipway_gateway.adapters.background import RETRY_S
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.adapters.durable_feed import DurableFeed
from slipway_libs.errors import Unavailable

log = logging.getLogger(__name__)

DURABLE = "gateway-audit"


class AuditFeed(DurableFeed):
    name = "audit feed"
    stream = subjects.AUDIT_STREAM
    subject = subjects.AUDIT_WILDCARD
    durable = DURABLE

    def __init__(self, bus: CommandBus, store: AuditStore, fetch_timeout_s: float = 5.0) -> None:
        super().__init__(bus, fetch_timeout_s)
        self.store = store

    async def take(self, messages: list[Msg]) -> None:
        for msg in messages:
            await self.take_one(msg)

    async def take_one(self, msg: Msg) -> None:
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
