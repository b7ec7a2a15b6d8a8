"""The unit of work and repository ports, on their in-memory implementation: what a use case
relies on (nothing visible before commit, one event per change, jobs and replies kept in the
same commit, stale writes refused, repeated commands answered once)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from slipway_contracts.entities import IMAGE_TRANSITIONS, ContainerImage, ImageStatus
from slipway_libs import context
from slipway_libs.aggregate import Aggregate
from slipway_libs.errors import IdempotencyMismatch
from slipway_libs.statemachine import TransitionTable
from slipway_libs.unit_of_work import (
    ConcurrentWrite,
    TransientConflict,
    _entity_locks,
    check_if_match,
    entity_lock,
    expire_overdue,
    idempotent,
)
from tests.memory import InMemoryRepository, InMemoryUnitOfWork
from tests.waiting import eventually


class Image(Aggregate[ContainerImage]):
    table = TransitionTable.of("container_image", IMAGE_TRANSITIONS)
    in_flight = (ImageStatus.BUILDING,)

    def overdue(self, deadline: datetime) -> None:
        self.transition(ImageStatus.FAILED, reason="too slow", deadline=None)


def new_image(name: str = "todo/backend", deadline: datetime | None = None) -> Image:
    return Image.create(
        ContainerImage,
        context.new_id(),
        ImageStatus.BUILDING,
        name=name,
        tag="1.0.0",
        application="backend",
        build={"context": "hello-server"},
        build_id=context.new_id(),
        deadline=deadline,
    )


class Job(BaseModel):
    image_id: str


class Parts:
    def __init__(self) -> None:
        self.uow = InMemoryUnitOfWork()
        self.images = InMemoryRepository(Image, "container_image")
        self.runs = 0


class Create(BaseModel):
    name: str


@idempotent
async def create_image(parts: Parts, command: Create) -> dict[str, object]:
    parts.runs += 1
    async with parts.uow:
        image = new_image(command.name)
        parts.images.add(image)
        parts.uow.queue_job("slipway.jobs.container_image.build", Job(image_id=image.id), "b1")
        return await parts.uow.commit(answer=image.snapshot())


async def test_a_commit_writes_the_entity_its_events_and_its_jobs_together():
    parts = Parts()
    reply = await create_image(parts, Create(name="todo/backend"))
    assert reply["ok"] is True
    stored = await parts.images.get(reply["data"]["id"])
    assert stored.revision == 1
    assert parts.uow.event_types() == ["slipway.events.container_image.created"]
    assert parts.uow.events[0].payload["entityversion"] == 1
    assert [j.payload for j in parts.uow.jobs] == [{"image_id": stored.id}]


async def test_leaving_without_a_commit_writes_nothing():
    parts = Parts()
    with pytest.raises(RuntimeError):
        async with parts.uow:
            parts.images.add(new_image())
            raise RuntimeError("the use case failed half-way")
    assert parts.images.rows == {}
    assert parts.uow.events == []


async def test_each_change_is_one_event_with_the_revision_it_made():
    parts = Parts()
    image = parts.images.put(new_image())
    async with parts.uow:
        loaded = await parts.images.get(image.id)
        loaded.transition(ImageStatus.BUILT)
        loaded.update(size=10)
        await parts.uow.commit()
    assert parts.uow.event_types() == [
        "slipway.events.container_image.built",
        "slipway.events.container_image.updated",
    ]
    assert [e.payload["entityversion"] for e in parts.uow.events] == [2, 3]
    assert (await parts.images.get(image.id)).revision == 3


async def test_a_stale_write_is_refused_and_if_match_is_checked():
    parts = Parts()
    image = parts.images.put(new_image())
    async with parts.uow:
        first = await parts.images.get(image.id)
        # another writer commits in between
        parts.images.rows[image.id] = parts.images.rows[image.id].model_copy(update={"revision": 2})
        first.update(size=1)
        with pytest.raises(ConcurrentWrite):
            await parts.uow.commit()
    with pytest.raises(Exception, match="revision 7 is not current"):
        check_if_match(first, 7)


async def test_a_repeated_command_gets_the_kept_reply_and_changes_nothing_twice():
    parts = Parts()
    context.bind("corr", "command-1")
    try:
        first = await create_image(parts, Create(name="todo/backend"))
        again = await create_image(parts, Create(name="todo/backend"))
        assert again == first
        # No look-up went first: the repeat ran, and its commit wrote nothing (the kept reply
        # was there already).
        assert (parts.runs, parts.uow.commits) == (2, 1)
        assert len(parts.images.rows) == 1
        assert len(parts.uow.events) == len(parts.uow.jobs) == 1
        with pytest.raises(IdempotencyMismatch):
            await create_image(parts, Create(name="todo/other"))
    finally:
        context.bind(None, None)


class Rename(BaseModel):
    id: str
    name: str


@idempotent
async def rename_image(parts: Parts, command: Rename) -> dict[str, object]:
    async with parts.uow:
        image = await parts.images.get(command.id)
        image.transition(ImageStatus.BUILT, name=command.name)  # legal once, from building
        return await parts.uow.commit(answer=image.snapshot())


async def test_a_repeat_that_the_entity_has_outgrown_still_gets_the_kept_reply():
    parts = Parts()
    image = parts.images.put(new_image())
    context.bind("corr", "rename-1")
    try:
        first = await rename_image(parts, Rename(id=image.id, name="todo/renamed"))
        # Run again, the transition is illegal now: the kept reply answers, not the conflict.
        again = await rename_image(parts, Rename(id=image.id, name="todo/renamed"))
    finally:
        context.bind(None, None)
    assert again == first and first["ok"]
    assert parts.uow.commits == 1


async def test_commands_for_one_entity_run_one_at_a_time_others_meanwhile():
    parts = Parts()
    shared, other = parts.images.put(new_image()), parts.images.put(new_image())
    steps: list[str] = []
    release = asyncio.Event()

    @idempotent
    async def touch(p: Parts, command: Rename) -> str:
        steps.append(f"{command.name} in")
        if command.name == "first":
            await release.wait()
        steps.append(f"{command.name} out")
        return command.name

    first = asyncio.create_task(touch(parts, Rename(id=shared.id, name="first")))
    await eventually(lambda: steps == ["first in"], what="the first command inside")
    second = asyncio.create_task(touch(parts, Rename(id=shared.id, name="second")))
    # Another entity's command is not held by the first one.
    assert (await touch(parts, Rename(id=other.id, name="elsewhere")))["data"] == "elsewhere"
    assert steps == ["first in", "elsewhere in", "elsewhere out"]  # the second still waits
    release.set()
    await asyncio.gather(first, second)
    assert steps[3:] == ["first out", "second in", "second out"]


async def test_an_entity_lock_is_dropped_once_nobody_holds_it():
    async with entity_lock("entity-1"):
        assert "entity-1" in _entity_locks
    assert "entity-1" not in _entity_locks
    async with entity_lock(None):  # a command naming no entity (a create) takes no lock
        assert len(_entity_locks) == 0


async def test_a_lost_race_runs_the_use_case_again():
    parts = Parts()
    parts.uow.fail_next_commit = TransientConflict("write conflict")
    reply = await create_image(parts, Create(name="todo/backend"))
    assert reply["ok"] is True
    assert parts.runs == 2
    assert len(parts.images.rows) == 1


async def test_the_deadline_sweep_ends_only_overdue_work():
    parts = Parts()
    past = datetime.now(UTC) - timedelta(seconds=1)
    late = parts.images.put(new_image("todo/late", deadline=past))
    parts.images.put(new_image("todo/fine", deadline=datetime.now(UTC) + timedelta(hours=1)))
    assert await expire_overdue(parts.uow, parts.images, status=ImageStatus.BUILDING) == 1
    assert (await parts.images.get(late.id)).status == "failed"
    assert parts.uow.event_types() == ["slipway.events.container_image.failed"]


async def test_matching_and_pages_filter_and_order_oldest_first():
    parts = Parts()
    for n in range(5):
        parts.images.put(new_image(f"todo/app{n}"))
    page, cursor = await parts.images.page({"status": "building"}, cursor=None, limit=3)
    rest, end = await parts.images.page({"status": "building"}, cursor=cursor, limit=3)
    assert [i.state.name for i in page + rest] == [f"todo/app{n}" for n in range(5)]
    assert end is None
    assert len(await parts.images.matching(status=["building", "built"])) == 5
    assert await parts.images.matching(status="built") == []


async def test_concurrent_tasks_sharing_one_unit_of_work_get_their_own_transactions():
    parts = Parts()
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_create() -> None:
        async with parts.uow:
            parts.images.add(new_image("todo/slow"))
            started.set()
            await release.wait()
            await parts.uow.commit()

    async def failing_create() -> None:
        await started.wait()
        with pytest.raises(RuntimeError):
            async with parts.uow:
                parts.images.add(new_image("todo/failing"))
                raise RuntimeError("this one fails")
        release.set()

    await asyncio.gather(slow_create(), failing_create())
    assert [s.name for s in parts.images.rows.values()] == ["todo/slow"]
    assert parts.uow.event_types() == ["slipway.events.container_image.created"]
