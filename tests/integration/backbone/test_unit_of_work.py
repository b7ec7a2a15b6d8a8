"""The MongoDB unit of work against a real replica set: the same promises as the in-memory
one (tests/unit/libs/test_unit_of_work.py), plus what only a real server can break: a
transaction that loses a race with another one runs again, and nothing half-written is
left behind."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from pydantic import BaseModel

from slipway_contracts import subjects
from slipway_contracts.entities import IMAGE_TRANSITIONS, ContainerImage, ImageStatus
from slipway_libs import context
from slipway_libs.aggregate import Aggregate
from slipway_libs.statemachine import TransitionTable
from slipway_libs.storage import OUTBOX, Database, MongoUnitOfWork, Repository
from slipway_libs.unit_of_work import ConcurrentWrite, idempotent


class Image(Aggregate[ContainerImage]):
    table = TransitionTable.of("container_image", IMAGE_TRANSITIONS)


class Job(BaseModel):
    image_id: str


class Create(BaseModel):
    name: str


class Parts:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.uow = MongoUnitOfWork(database)
        self.images: Repository[Image] = Repository(
            database, "images", ContainerImage, Image, subjects.CONTAINER_IMAGE, "/slipway/test"
        )


def new_image(name: str) -> Image:
    return Image.create(
        ContainerImage,
        context.new_id(),
        ImageStatus.BUILDING,
        name=name,
        tag="1.0.0",
        application="backend",
        build={"context": "hello-server"},
        build_id=context.new_id(),
    )


@idempotent
async def create_image(parts: Parts, command: Create) -> dict[str, object]:
    async with parts.uow:
        image = new_image(command.name)
        parts.images.add(image)
        parts.uow.queue_job(subjects.job("container_image", "build"), Job(image_id=image.id), "j")
        return await parts.uow.commit(answer=image.snapshot())


@pytest.fixture
async def parts(stack):
    database = Database(stack.mongodb_uri, f"uow_{uuid.uuid4().hex[:8]}")
    await database.ensure_indexes()
    parts = Parts(database)
    await parts.images.ensure_indexes()
    yield parts
    await database.client.drop_database(database.db.name)
    await database.close()


async def outbox(parts: Parts) -> list[dict]:
    messages = {"msg_id": {"$exists": True}}  # not the kept replies
    return await parts.database.db[OUTBOX].find(messages).sort("_id").to_list()


async def test_the_entity_its_event_its_job_and_the_reply_commit_together(parts):
    context.bind("corr-1", "command-1")
    try:
        reply = await create_image(parts, Create(name="todo/backend"))
        again = await create_image(parts, Create(name="todo/backend"))
    finally:
        context.bind(None, None)
    assert again == reply
    image = await parts.images.get(reply["data"]["id"])
    assert image.revision == 1
    rows = await outbox(parts)
    assert [r["subject"] for r in rows] == [
        "slipway.events.container_image.created",
        "slipway.jobs.container_image.build",
    ]
    assert json.loads(rows[0]["payload"])["correlationid"] == "corr-1"
    kept = await parts.database.db[OUTBOX].find({"reply": {"$exists": True}}).to_list()
    assert [row["_id"] for row in kept] == ["command-1"]
    # The kept reply is written with the messages, but is never one to publish.
    assert await parts.database.db[OUTBOX].count_documents({"published_at": None}) == 2


async def test_a_failure_before_commit_leaves_nothing_behind(parts):
    with pytest.raises(RuntimeError):
        async with parts.uow:
            parts.images.add(new_image("todo/half"))
            raise RuntimeError("the use case failed half-way")
    assert await parts.images.matching() == []
    assert await outbox(parts) == []


async def test_a_stale_revision_is_refused(parts):
    created = await create_image(parts, Create(name="todo/backend"))
    image_id = created["data"]["id"]
    async with parts.uow:
        image = await parts.images.get(image_id)
        image.transition(ImageStatus.BUILT)
        await parts.uow.commit()
    stale = await parts.images.find(image_id)  # outside a unit of work: a plain read
    assert stale is not None
    stale.loaded_revision = 1
    async with parts.uow:
        parts.images.add(stale)
        stale.update(size=5)
        with pytest.raises(ConcurrentWrite):
            await parts.uow.commit()
    assert (await parts.images.get(image_id)).revision == 2


async def test_concurrent_changes_to_one_entity_all_land_one_revision_each(parts):
    created = await create_image(parts, Create(name="todo/backend"))
    image_id = created["data"]["id"]

    class Touch(BaseModel):
        size: int

    @idempotent
    async def touch(p: Parts, command: Touch) -> int:
        async with p.uow:
            image = await p.images.get(image_id)
            image.update(size=command.size)
            return await p.uow.commit(answer=image.revision)

    # Each task has its own unit of work, as each handler has; they race on one document.
    replies = await asyncio.gather(
        *(touch(Parts(parts.database), Touch(size=n)) for n in range(1, 9))
    )
    assert all(r["ok"] for r in replies)
    assert sorted(r["data"] for r in replies) == list(range(2, 10))
    assert (await parts.images.get(image_id)).revision == 9


async def create_as(parts: Parts, command_id: str, name: str) -> dict[str, object]:
    """`create_image` as a handler runs it: in its own task, with its own command id."""
    context.bind(f"corr-{command_id}", command_id)
    return await create_image(Parts(parts.database), Create(name=name))


async def transactions_on(parts: Parts, collection: str) -> int:
    """How many transactions wrote to `collection` (one `applyOps` entry each in the oplog)."""
    namespace = f"{parts.database.db.name}.{collection}"
    oplog = parts.database.client["local"]["oplog.rs"]
    return await oplog.count_documents({"o.applyOps.ns": namespace})


async def test_creates_at_the_same_moment_share_one_transaction_and_lose_nothing(parts):
    told: list[dict] = []
    parts.database.on_commit.append(told.extend)  # as the relay is told of each commit
    replies = await asyncio.gather(
        *(create_as(parts, f"together-{n}", f"todo/app-{n}") for n in range(24))
    )
    assert all(reply["ok"] for reply in replies)
    ids = {reply["data"]["id"] for reply in replies}
    assert {image.id for image in await parts.images.matching()} == ids
    rows = await outbox(parts)
    created = [json.loads(row["payload"]) for row in rows if row["subject"].endswith("created")]
    assert {event["subject"] for event in created} == ids
    # Each event carries its own command's correlation id, though committed with others.
    assert {event["correlationid"] for event in created} == {
        f"corr-together-{n}" for n in range(24)
    }
    assert len(rows) == 48  # an event and a job each
    kept = await parts.database.db[OUTBOX].count_documents({"reply": {"$exists": True}})
    assert kept == 24
    # The relay is told of every row to publish, straight from the commits.
    assert sorted(row["msg_id"] for row in told) == sorted(row["msg_id"] for row in rows)
    # Fewer transactions than creates: those that came while one was in flight went together.
    assert await transactions_on(parts, "images") < 24


async def test_a_create_refused_in_a_shared_transaction_fails_alone(parts):
    await parts.images.collection.create_index("name", unique=True, name="name_unique")
    first = await create_as(parts, "first", "todo/taken")
    names = [f"todo/free-{n}" for n in range(10)] + ["todo/taken"]
    outcomes = await asyncio.gather(
        *(create_as(parts, f"next-{n}", name) for n, name in enumerate(names)),
        return_exceptions=True,
    )
    refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(refused) == 1 and "name_unique" in str(refused[0])
    assert all(outcome["ok"] for outcome in outcomes if not isinstance(outcome, Exception))
    stored = sorted(image.state.name for image in await parts.images.matching())
    assert stored == sorted([first["data"]["name"], *names[:10]])
    # Nothing of the refused create reached the outbox: one event and one job per image.
    assert len(await outbox(parts)) == 2 * len(stored)


async def test_a_command_repeated_beside_new_ones_gets_its_kept_reply(parts):
    first = await create_as(parts, "once", "todo/once")
    outcomes = await asyncio.gather(
        create_as(parts, "once", "todo/once"),
        *(create_as(parts, f"new-{n}", f"todo/new-{n}") for n in range(8)),
    )
    assert outcomes[0] == first
    assert all(outcome["ok"] for outcome in outcomes[1:])
    assert len(await parts.images.matching()) == 9
