"""What the gateway keeps in memory of a MongoDB collection it reads on every call
(`KnownTokens`, `ActiveSubscribers`), kept true by a change stream on that collection.

What was read is kept only while the change stream is open and has answered within
`STALE_S` (it answers at least every `AWAIT_S`, changes or not), and each change drops
what it touches, so a change made on any gateway replica holds here within milliseconds. A
read that a change overtook is not kept (`reading` / `may_keep`). While the stream is down
nothing is kept: every read goes to MongoDB, as it would with no cache at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, ClassVar

from pymongo.asynchronous.collection import AsyncCollection

from slipway_gateway.adapters.background import Restarting

# A getMore waits at most this long for a change before answering empty.
AWAIT_S = 0.5
# Unheard from for longer, the stream counts as down (nothing kept is used).
STALE_S = 1.0


class CollectionWatch(Restarting):
    """A change stream on one collection. A subclass says what a change drops (`changed`)
    and how to drop everything (`clear`); `pipeline` filters the changes it is told of."""

    name: str  # of the task, in logs
    pipeline: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self._open = False
        self._heard_at = -STALE_S
        self._generation = 0  # moves on with every change, opening and closing
        self._moved = asyncio.Event()  # set when the generation moves on

    def changed(self, change: dict[str, Any]) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    @property
    def fresh(self) -> bool:
        """Whether what is kept may be used now."""
        return self._open and time.monotonic() - self._heard_at < STALE_S

    def reading(self) -> int:
        """Taken before reading MongoDB; `may_keep` it afterwards."""
        return self._generation

    def may_keep(self, reading: int) -> bool:
        """Whether what was read since `reading` may be kept: no change came meanwhile."""
        return self.fresh and reading == self._generation

    def forget(self) -> None:
        """Drop everything kept (a change made here, known before its event comes)."""
        self._move_on()
        self.clear()

    async def change_after(self, reading: int, timeout_s: float) -> None:
        """Return once a change came after `reading`, or after `timeout_s`."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while reading == self._generation:
                    self._moved.clear()
                    await self._moved.wait()

    def _move_on(self) -> None:
        self._generation += 1
        self._moved.set()

    def ended(self) -> None:
        self._open = False
        self.forget()

    async def run_once(self) -> None:
        await_ms = int(AWAIT_S * 1000)
        async with await self.collection.watch(self.pipeline, max_await_time_ms=await_ms) as stream:
            self.forget()  # whatever was read before the stream opened
            self._open, self._heard_at = True, time.monotonic()
            while stream.alive:
                change = await stream.try_next()
                self._heard_at = time.monotonic()
                if change is not None:
                    self._move_on()
                    self.changed(change)
