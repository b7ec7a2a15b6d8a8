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
