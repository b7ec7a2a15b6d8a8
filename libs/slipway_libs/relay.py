"""The outbox relay: publishes committed outbox messages to JetStream, in commit order.
`Nats-Msg-Id` is the message's id, so JetStream drops a message published twice; a lease lets
one relay per database publish at a time, which keeps the order of an entity's events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from slipway_libs.context import COMMAND_ID_HEADER, CORRELATION_HEADER
from slipway_libs.storage import OUTBOX, Database

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, dict[str, str], str], Awaitable[None]]
LEASE = "relay_lease"


class OutboxRelay:
    """Drains the outbox of one database through `publish(subject, payload, headers, stream)`."""

    lease_s = 10.0
    batch = 200

    def __init__(
        self, database: Database, publish: Publish, *, owner: str, interval_s: float = 0.5
    ) -> None:
        self.database = database
        self.publish = publish
        self.owner = owner
        self.interval_s = interval_s
        self._wakeup = asyncio.Event()
        database.on_commit.append(self._wakeup.set)  # drain after each commit, not at the interval

    async def _hold_lease(self) -> bool:
        now = datetime.now(UTC)
        try:
            await self.database.db[LEASE].find_one_and_update(
                {"_id": "relay", "$or": [{"owner": self.owner}, {"expires": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires": now + timedelta(seconds=self.lease_s)}},
                upsert=True,
            )
            return True
        except DuplicateKeyError:
            return False  # another replica holds a live lease

    async def drain(self) -> int:
        """Publish pending messages in order; stop at the first failure. Returns the count."""
        outbox = self.database.db[OUTBOX]
        pending = outbox.find({"published_at": None}).sort([("_id", ASCENDING)]).limit(self.batch)
        sent = 0
        for message in await pending.to_list():
            headers = {"Nats-Msg-Id": message["msg_id"], COMMAND_ID_HEADER: message["msg_id"]}
            if message.get("correlationid"):
                headers[CORRELATION_HEADER] = message["correlationid"]
            try:
                await self.publish(
                    message["subject"], bytes(message["payload"]), headers, message["stream"]
                )
            except Exception as exc:  # NATS down or slow: keep it for the next round
                log.warning(
                    "outbox publish failed; will retry",
                    extra={"subject": message["subject"], "error": repr(exc)},
                )
                break
            await outbox.update_one(
                {"_id": message["_id"]}, {"$set": {"published_at": datetime.now(UTC)}}
            )
            sent += 1
        return sent

    async def run(self) -> None:
        """Drain forever: after each commit, and every interval."""
        while True:
            try:
                if await self._hold_lease():
                    while await self.drain() == self.batch:
                        pass
            except PyMongoError as exc:
                log.warning("outbox relay cannot reach MongoDB", extra={"error": repr(exc)})
            except Exception:
                log.exception("outbox relay round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.interval_s)
            self._wakeup.clear()
