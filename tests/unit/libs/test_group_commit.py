"""Group commit: what callers see of the groups their writes went in."""

from __future__ import annotations

import asyncio

import pytest

from slipway_libs.errors import Unavailable
from slipway_libs.group_commit import GroupCommit


class Store:
    """Writes groups of words; refuses a word 'bad'; 'down' fails its whole group."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.release = asyncio.Event()

    async def write(self, words: list[str]) -> list[str | Exception]:
        self.groups.append(words)
        await self.release.wait()
        if "down" in words:
            raise Unavailable("the store is down")
        return [ValueError(w) if w == "bad" else w.upper() for w in words]


async def test_writes_asked_for_while_one_is_in_flight_go_together():
    store = Store()
    group = GroupCommit(store.write, most=100)
    first = asyncio.create_task(group.write("a"))
    await asyncio.sleep(0)  # the first group is in flight
    rest = [asyncio.create_task(group.write(w)) for w in "bcd"]
    await asyncio.sleep(0)
    store.release.set()
    assert [await t for t in (first, *rest)] == ["A", "B", "C", "D"]
    assert store.groups == [["a"], ["b", "c", "d"]]


async def test_a_group_holds_at_most_its_bound_and_two_may_be_in_flight():
    store = Store()
    group = GroupCommit(store.write, most=2, in_flight=2)
    tasks = [asyncio.create_task(group.write(w)) for w in "abcde"]
    await asyncio.sleep(0)  # the callers queue their words and start the writers
    await asyncio.sleep(0)  # the writers take their groups
    assert len(store.groups) == 2  # the second writer started while the first was in flight
    store.release.set()
    assert [await t for t in tasks] == ["A", "B", "C", "D", "E"]
    assert all(len(g) <= 2 for g in store.groups)
    assert sorted(w for g in store.groups for w in g) == list("abcde")


async def test_an_item_refused_fails_alone_and_a_failed_group_does_not_stop_the_next():
    store = Store()
    store.release.set()
    group = GroupCommit(store.write, most=100)
    outcomes = await asyncio.gather(
        group.write("ok"), group.write("bad"), group.write("fine"), return_exceptions=True
    )
    assert outcomes[0] == "OK" and outcomes[2] == "FINE"
    assert isinstance(outcomes[1], ValueError)
    with pytest.raises(Unavailable, match="down"):
        await group.write("down")
    assert await group.write("after") == "AFTER"


async def test_a_cancelled_caller_leaves_the_others_their_answers():
    store = Store()
    group = GroupCommit(store.write, most=100)
    gone = asyncio.create_task(group.write("gone"))
    kept = asyncio.create_task(group.write("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    store.release.set()
    assert await kept == "KEPT"
    assert gone.cancelled()
