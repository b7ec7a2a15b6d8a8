"""The outbox relay: publishes committed outbox messages to JetStream, each entity's in commit
order, many in flight at once. `Nats-Msg-Id` is the message's id, so JetStream drops a
message published twice; a lease lets one relay per database publish at a time, which keeps
the order of an entity's events. It drains after a commit in its process, at an interval (the
fallback), and, while other replicas are about, after any outbox insert (a change stream: a
commit in another replica). Replicas that wait for the lease say so in the lease collection
(`standby:<owner>` rows); a lone replica opens no change stream (each costs MongoDB work on
every write of the deployment).

A lone relay whose last read of the outbox left nothing behind publishes what its process
commits straight from the commit (no read between a commit and its publish); it still reads
the outbox once an interval, and always after a failed publish or while another replica
stands by. Those rows are marked published in the background within `MARK_WITHIN_S`, all
sent meanwhile in one write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.read_concern import ReadConcern

from slipway_libs.context import COMMAND_ID_HEADER, CORRELATION_HEADER
from slipway_libs.storage import OUTBOX, Database
from slipway_observability.metrics import observe_published
from slipway_observability.tracing import continued, span

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes, dict[str, str], str], Awaitable[None]]
# Told of each message once it is published: (subject, payload); its failure is only logged.
Observer = Callable[[str, bytes], Awaitable[None]]
LEASE = "relay_lease"
# Only inserts wake the relay, and only the resume token travels (not the message).
INSERTS: list[dict[str, Any]] = [
    {"$match": {"operationType": "insert"}},
    {"$project": {"_id": 1}},
]
WATCH_RETRY_S = 5.0
MARK_AT_STOP_S = 2.0
# Rows sent straight from a commit are marked published at most this long after (a crash
# meanwhile sends them again, and JetStream drops the repeats).
MARK_WITHIN_S = 0.1


class OutboxRelay:
    """Drains the outbox of one database through `publish(subject, payload, headers, stream)`."""

    lease_s = 10.0
    batch = 200

    def __init__(
        self,
        database: Database,
        publish: Publish,
        *,
        owner: str,
        interval_s: float = 0.5,
        service: str = "",
        observers: tuple[Observer, ...] = (),
    ) -> None:
        self.database = database
        self.service = service
        self.observers = observers
        self.publish = publish
        self.owner = owner
        self.interval_s = interval_s
        self._wakeup = asyncio.Event()
        database.on_commit.append(self._committed_here)  # drain after each commit
        self._lease_until = datetime.min.replace(tzinfo=UTC)
        self._standby_until = datetime.min.replace(tzinfo=UTC)
        self._committed: list[dict[str, Any]] = []  # rows committed here, not yet sent
        self._clear = False  # the last read of the outbox left nothing unsent behind
        self._lone = False  # holds the lease and no other replica stands by
        self._read_at = float("-inf")  # when the outbox was last read (monotonic)
        self._to_mark: list[Any] = []  # ids sent, to be marked published
        self._mark_now = asyncio.Event()
        self._marking: asyncio.Task[None] | None = None

    def _committed_here(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._committed += rows
            self._wakeup.set()

    async def _hold_lease(self) -> bool:
        now = datetime.now(UTC)
        if now + timedelta(seconds=self.lease_s / 2) < self._lease_until:
            return True  # renewed less than half a lease ago: no round trip
        expires = now + timedelta(seconds=self.lease_s)
        leases = self.database.db[LEASE]
        try:
            await leases.find_one_and_update(
                {"_id": "relay", "$or": [{"owner": self.owner}, {"expires": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires": expires}},
                upsert=True,
            )
        except DuplicateKeyError:  # another replica holds a live lease: this one stands by
            if self._standby_until < now + timedelta(seconds=self.lease_s / 2):
                await leases.update_one(
                    {"_id": f"standby:{self.owner}"}, {"$set": {"expires": expires}}, upsert=True
                )
                self._standby_until = expires
            return False
        self._lease_until = expires
        return True

    async def drain(self) -> int:
        """Publish the pending messages of the outbox in order; stop at the first failure.
        Returns the count. A batch goes out in waves, each wave's publishes in flight together
        and at most one message of a key (an entity) in a wave, so one key's messages still
        go in turn."""
        await self._marks_written()  # so that no row sent already is read as pending
        self._committed.clear()  # committed, so the read finds them
        self._clear = False
        # Rows a majority has: a row a failed primary had alone is rolled back, never published.
        outbox = self.database.db[OUTBOX].with_options(read_concern=ReadConcern("majority"))
        pending = outbox.find({"published_at": None}).sort([("_id", ASCENDING)]).limit(self.batch)
        read_at = time.monotonic()
        rows = await pending.to_list()
        self._read_at = read_at
        read = {row["_id"] for row in rows}
        sent, failed = await self._send(rows)
        # What was committed during the read and found by it is sent already.
        self._committed = [row for row in self._committed if row["_id"] not in read]
        self._clear = not failed and len(rows) < self.batch
        self._to_mark += sent
        await self._marks_written()
        return len(sent)

    async def _send_committed(self) -> int:
        """Publish the rows committed here since the last round, straight from the commit."""
        rows, self._committed = self._committed[: self.batch], self._committed[self.batch :]
        sent, failed = await self._send(rows)
        if failed:  # the rest waits in the outbox: read it next
            self._clear = False
        self._to_mark += sent
        if self._marking is None or self._marking.done():
            self._marking = asyncio.create_task(self._mark_soon())
        return len(sent)

    async def _mark_soon(self) -> None:
        """Mark what is sent within `MARK_WITHIN_S`, together (one write, one journal flush
        of MongoDB's, for all the rows sent meanwhile), or at once when asked to."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._mark_now.wait(), MARK_WITHIN_S)
        await self._mark()

    async def _send(self, rows: list[dict[str, Any]]) -> tuple[list[Any], bool]:
        """Publish `rows` in waves; the ids sent, and whether a publish failed (then the
        rows after it are not sent)."""
        sent: list[Any] = []
        for wave in waves(rows):
            outcomes = await asyncio.gather(*map(self._publish, wave), return_exceptions=True)
            failed = False
            for message, outcome in zip(wave, outcomes, strict=True):
                if isinstance(outcome, BaseException):  # NATS down or slow: kept for later
                    log.warning(
                        "outbox publish failed; will retry",
                        extra={"subject": message["subject"], "error": repr(outcome)},
                    )
                    failed = True
                    continue
                sent.append(message["_id"])
                await self._published(message)
            if failed:
                return sent, True
        return sent, False

    async def _mark(self) -> None:
        """Mark the rows sent as published, all those sent meanwhile in one write each time;
        a crash before a mark publishes them again (de-duplicated by JetStream)."""
        while self._to_mark:
            sent, self._to_mark = self._to_mark, []
            published = {"$set": {"published_at": datetime.now(UTC)}}
            try:
                await self.database.db[OUTBOX].update_many({"_id": {"$in": sent}}, published)
            except PyMongoError as exc:  # read and sent again (de-duplicated)
                log.warning("outbox rows not marked published", extra={"error": repr(exc)})
                self._clear = False

    async def _marks_written(self) -> None:
        if self._marking is not None and not self._marking.done():
            self._mark_now.set()
            await self._marking
            self._mark_now.clear()
        await self._mark()

    async def _publish(self, message: dict[str, Any]) -> None:
        headers = {"Nats-Msg-Id": message["msg_id"], COMMAND_ID_HEADER: message["msg_id"]}
        if message.get("correlationid"):
            headers[CORRELATION_HEADER] = message["correlationid"]
        with continued(message.get("traceparent")), span(f"publish {message['subject']}"):
            await self.publish(
                message["subject"], bytes(message["payload"]), headers, message["stream"]
            )

    async def _published(self, message: dict[str, Any]) -> None:
        observe_published(self.service, message["subject"], message.get("created_at"))
        for observer in self.observers:
            try:
                await observer(message["subject"], bytes(message["payload"]))
            except Exception:
                log.exception("an observer of published messages failed")

    async def run(self) -> None:
        """Drain forever: after each commit here, each outbox insert anywhere, each interval."""
        watcher = asyncio.create_task(self._watch())
        try:
            while True:
                try:
                    while await self._hold_lease():
                        if await self._round() < self.batch:
                            break
                    else:  # another replica publishes, and reads what this one committed
                        self._committed.clear()
                except PyMongoError as exc:
                    log.warning("outbox relay cannot reach MongoDB", extra={"error": repr(exc)})
                except Exception:
                    log.exception("outbox relay round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self.interval_s)
                self._wakeup.clear()
        finally:
            watcher.cancel()
            with contextlib.suppress(Exception):  # else sent again at the next start
                await asyncio.wait_for(self._marks_written(), MARK_AT_STOP_S)

    async def _round(self) -> int:
        """Send what was committed here, or, unless that alone is complete (a lone relay,
        nothing left behind, read within the interval), read the outbox."""
        lone, recent = self._lone, time.monotonic() - self._read_at < self.interval_s
        if self._clear and lone and recent:
            return await self._send_committed()
        return await self.drain()

    async def _watch(self) -> None:
        """While this relay holds the lease and other replicas stand by, wake it on each
        outbox insert, whichever process committed it (looked at every half lease); while
        the change stream is down, the interval drives the relay."""
        while True:
            try:
                if await self._others_stand_by():
                    await self._follow_inserts()
                    continue
            except PyMongoError as exc:
                self._lone = False
                log.warning("outbox change stream closed", extra={"error": repr(exc)})
                await asyncio.sleep(WATCH_RETRY_S)
                continue
            await asyncio.sleep(min(self.interval_s, self.lease_s / 2))

    async def _others_stand_by(self) -> bool:
        now = datetime.now(UTC)
        if self._lease_until < now:
            self._lone = False
            return False  # not publishing: nothing to wake
        others = {"$regex": "^standby:", "$ne": f"standby:{self.owner}"}
        waiting = {"_id": others, "expires": {"$gt": now}}
        self._lone = False  # until the answer says so
        found = bool(await self.database.db[LEASE].count_documents(waiting, limit=1))
        self._lone = not found
        return found

    async def _follow_inserts(self) -> None:
        """Wake the relay on each insert until, at a look every half lease, no other replica
        stands by any more (or this one lost the lease)."""
        look_again = time.monotonic() + self.lease_s / 2
        async with await self.database.db[OUTBOX].watch(INSERTS) as inserts:
            self._wakeup.set()  # what was inserted while no stream was open
            async for _ in inserts:
                self._wakeup.set()
                if time.monotonic() > look_again:
                    if not await self._others_stand_by():
                        return
                    look_again = time.monotonic() + self.lease_s / 2


def waves(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """`rows` in order, cut into runs that hold each key at most once (a row with no key,
    written before rows had one, goes alone)."""
    wave: list[dict[str, Any]] = []
    keys: set[str | None] = set()
    for row in rows:
        key = row.get("key")
        if wave and (key is None or key in keys or None in keys):
            yield wave
            wave, keys = [], set()
        wave.append(row)
        keys.add(key)
    if wave:
        yield wave
