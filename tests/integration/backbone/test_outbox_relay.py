"""The transactional outbox and its relay against real MongoDB and NATS JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import nats
import pytest
from pydantic import BaseModel

from slipway_contracts import subjects
from slipway_libs.messaging import ensure_streams
from slipway_libs.relay import LEASE, OutboxRelay
from slipway_libs.storage import OUTBOX, Database, MongoUnitOfWork
from tests.waiting import eventually


async def publisher(nats_options):
    nc = await nats.connect(**nats_options)
    js = nc.jetstream()
    await ensure_streams(js)

    async def publish(subject: str, payload: bytes, headers: dict[str, str], stream: str) -> None:
        await js.publish(subject, payload, headers=headers, stream=stream)

    return nc, js, publish


async def pending(database: Database) -> int:
    """How many committed messages are not yet published."""
    return await database.db[OUTBOX].count_documents({"published_at": None})


async def count(js, subject: str) -> int:
    sub = await js.pull_subscribe(subject, stream=subjects.JOBS_STREAM)
    total = 0
    try:
        while True:
            total += len(await sub.fetch(50, timeout=0.5))
    except TimeoutError:  # nats-py raises its own or asyncio's once nothing is left
        return total
    finally:
        await sub.unsubscribe()


@pytest.fixture
async def parts(stack):
    database = Database(stack.mongodb_uri, f"relay_{uuid.uuid4().hex[:8]}")
    await database.ensure_indexes()
    nc, js, publish = await publisher(stack.nats_options("admin"))
    relay = OutboxRelay(database, publish, owner="test")
    yield database, js, relay
    await database.client.drop_database(database.db.name)
    await database.close()
    await nc.close()


class Note(BaseModel):
    n: int


async def queue(database: Database, subject: str, fail: bool = False) -> None:
    async with MongoUnitOfWork(database) as uow:
        uow.queue_job(subject, Note(n=1), msg_id=str(uuid.uuid4()))
        if fail:
            raise RuntimeError("the entity write failed")
        await uow.commit()


async def test_only_committed_messages_are_published(parts):
    database, js, relay = parts
    subject = subjects.job("test", uuid.uuid4().hex[:8])
    await queue(database, subject)
    with pytest.raises(RuntimeError):
        await queue(database, subject, fail=True)
    assert await relay.drain() == 1
    assert await pending(database) == 0
    assert await count(js, subject) == 1


async def test_a_message_published_twice_reaches_the_stream_once(parts):
    database, js, relay = parts
    subject = subjects.job("test", uuid.uuid4().hex[:8])
    await queue(database, subject)
    await relay.drain()
    # The relay died after publishing but before marking: it publishes again on restart.
    await database.db[OUTBOX].update_many(
        {"msg_id": {"$exists": True}}, {"$set": {"published_at": None}}
    )
    assert await relay.drain() == 1
    assert await count(js, subject) == 1


async def test_messages_wait_in_the_outbox_while_publishing_fails(parts):
    database, js, relay = parts
    subject = subjects.job("test", uuid.uuid4().hex[:8])
    await queue(database, subject)
    await queue(database, subject)
    working = relay.publish

    async def nats_down(*args: object) -> None:
        raise ConnectionError("NATS is down")

    relay.publish = nats_down
    assert await relay.drain() == 0
    assert await pending(database) == 2
    relay.publish = working
    assert await relay.drain() == 2
    assert await count(js, subject) == 2


async def test_a_commit_in_another_process_is_relayed_without_waiting_for_the_interval(
    stack, parts
):
    database, js, relay = parts
    relay.interval_s = 3600.0  # only a wake-up can make it drain within the test
    relay.lease_s = 1.0  # it looks for replicas standing by every half second
    # Another replica: its commits run no hook of this relay, and its relay stands by.
    elsewhere = Database(stack.mongodb_uri, database.db.name)
    other = OutboxRelay(elsewhere, relay.publish, owner="other", interval_s=0.1)
    subject = subjects.job("test", uuid.uuid4().hex[:8])
    running = [asyncio.create_task(relay.run())]
    try:
        await eventually(lambda: lease_owner(database, "test"), what="the lease taken")
        running.append(asyncio.create_task(other.run()))
        await queue(elsewhere, subject)
        await eventually(lambda: pending_is_zero(database), what="the message relayed")
        await queue(elsewhere, subject)  # the change stream is open by now
        await eventually(lambda: pending_is_zero(database), what="the second message relayed")
        assert await count(js, subject) == 2
        assert await lease_owner(database, "test")  # the standby never published
    finally:
        for task in running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await elsewhere.close()


async def lease_owner(database: Database, owner: str) -> bool:
    lease = await database.db[LEASE].find_one({"_id": "relay"})
    return lease is not None and lease["owner"] == owner


async def pending_is_zero(database: Database) -> bool:
    return await pending(database) == 0


async def published_notes(js, subject: str) -> list[int]:
    """The `n` of each message on `subject`, in the stream's order."""
    sub = await js.pull_subscribe(subject, stream=subjects.JOBS_STREAM)
    found: list[int] = []
    try:
        while True:
            found += [Note.model_validate_json(m.data).n for m in await sub.fetch(50, timeout=0.5)]
    except TimeoutError:  # nats-py raises its own or asyncio's once nothing is left
        return found
    finally:
        await sub.unsubscribe()


async def queue_note(database: Database, subject: str, n: int) -> None:
    async with MongoUnitOfWork(database) as uow:
        uow.queue_job(subject, Note(n=n), msg_id=str(uuid.uuid4()))
        await uow.commit()


async def test_each_keys_messages_stay_in_order_when_one_publish_fails(parts):
    """Messages of several keys go out together; when one fails, the other keys' go on and
    none of the failed key's later messages overtakes it."""
    database, js, relay = parts
    run = uuid.uuid4().hex[:8]
    names = [subjects.job("test", f"{run}{key}") for key in "abc"]
    for n in range(3):
        for subject in names:
            await queue_note(database, subject, n)
    working, failing = relay.publish, names[1]

    async def first_of_b_fails(subject: str, *args: object) -> None:
        if subject == failing:
            raise ConnectionError("NATS refused it")
        await working(subject, *args)

    relay.publish = first_of_b_fails
    assert await relay.drain() == 2  # a's and c's first; the rest waits behind b's first
    assert await pending(database) == 7
    relay.publish = working
    assert await relay.drain() == 7
    for subject in names:
        assert await published_notes(js, subject) == [0, 1, 2]


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay):
    """`relay` running, stopped (as a service stops) on the way out."""
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def lone_and_caught_up(relay: OutboxRelay) -> bool:
    """The relay publishes straight from its process's commits from now on."""
    return relay._lone and relay._clear


async def test_a_lone_relay_publishes_its_commits_in_order_when_a_publish_fails(parts):
    """Straight from the commits: a failed publish leaves its message and those after it in
    the outbox, read next, each key's in order; nothing stays pending."""
    database, js, relay = parts
    relay.interval_s, relay.lease_s = 0.2, 1.0
    run = uuid.uuid4().hex[:8]
    names = [subjects.job("test", f"{run}{key}") for key in "abc"]
    working, failing = relay.publish, names[1]
    failures: list[str] = []

    async def first_of_b_fails(subject: str, *args: object) -> None:
        if subject == failing and not failures:
            failures.append(subject)
            raise ConnectionError("NATS refused it")
        await working(subject, *args)

    relay.publish = first_of_b_fails
    async with running(relay):
        await eventually(lambda: lone_and_caught_up(relay), what="the relay lone and caught up")
        for n in range(3):
            for subject in names:
                await queue_note(database, subject, n)
        await eventually(lambda: pending_is_zero(database), what="every message relayed")
    assert failures == [failing]
    for subject in names:
        assert await published_notes(js, subject) == [0, 1, 2]


async def test_a_commit_by_a_process_with_no_relay_is_published_within_the_interval(stack, parts):
    """While the relay takes its own commits straight from them, it still reads the outbox
    each interval: what another process committed (no relay of its own, so no replica
    standing by) is published too, once."""
    database, js, relay = parts
    relay.interval_s, relay.lease_s = 0.2, 1.0
    elsewhere = Database(stack.mongodb_uri, database.db.name)
    subject = subjects.job("test", uuid.uuid4().hex[:8])
    try:
        async with running(relay):
            await eventually(lambda: lone_and_caught_up(relay), what="the relay lone and caught up")
            await queue_note(database, subject, 0)
            await queue_note(elsewhere, subject, 1)
            await queue_note(database, subject, 2)
            await eventually(lambda: pending_is_zero(database), what="every message relayed")
        assert sorted(await published_notes(js, subject)) == [0, 1, 2]
    finally:
        await elsewhere.close()


async def test_what_a_relay_published_before_it_stopped_is_not_published_again(stack, parts):
    """Published rows are marked in the background; a stop right after a publish waits for
    its mark (the service closes its database next), so a relay started afterwards finds
    nothing to send."""
    database, js, relay = parts
    service_db = Database(stack.mongodb_uri, database.db.name)  # closed as the service stops
    subject = subjects.job("test", uuid.uuid4().hex[:8])
    last_sent = asyncio.Event()

    async def tell_the_last(subject: str, payload: bytes, *args: object) -> None:
        await relay.publish(subject, payload, *args)
        if Note.model_validate_json(payload).n == 19:
            last_sent.set()

    stopping = OutboxRelay(service_db, tell_the_last, owner="test", interval_s=0.2)
    stopping.lease_s = 1.0
    try:
        async with running(stopping):
            await eventually(lambda: lone_and_caught_up(stopping), what="the relay lone, caught up")
            for n in range(20):
                await queue_note(service_db, subject, n)
            await asyncio.wait_for(last_sent.wait(), 30)
    finally:
        await service_db.close()
    assert await pending(database) == 0
    assert await relay.drain() == 0
    assert await published_notes(js, subject) == list(range(20))


async def count_is(js, subject: str, expected: int) -> bool:
    return len(await published_notes(js, subject)) == expected
