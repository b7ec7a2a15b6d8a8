"""Group commit: writes asked for while one is in flight wait and go together in the next,
so under load each costs a share of one round trip to MongoDB (and of one journal flush)
instead of one of its own. Used by the audit log (`slipway_gateway.adapters.audit_store`)
and by the creates of `slipway_libs.storage`."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from slipway_libs.errors import Unavailable

T = TypeVar("T")
R = TypeVar("R")

# Writes one group; returns one outcome per item, in order: its result, or the error it gets.
WriteGroup = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]


class GroupCommit(Generic[T, R]):
    """`await group.write(item)` returns once `item` is written with the others of its group
    (the write's outcome for it), or raises its error. At most `in_flight` groups are written
    at once, each of at most `most` items."""

    def __init__(self, write_group: WriteGroup[T, R], *, most: int, in_flight: int = 1) -> None:
        self.write_group = write_group
        self.most = most
        self.in_flight = in_flight
        self._queued: list[tuple[T, asyncio.Future[R]]] = []
        self._writers: set[asyncio.Task[None]] = set()

    async def write(self, item: T) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued.append((item, done))
        if len(self._writers) < self.in_flight:
            # A context of its own: a group is no one call's (its correlation id, its trace).
            writer = asyncio.create_task(self._write_queued(), context=contextvars.Context())
            self._writers.add(writer)
        return await done

    async def _write_queued(self) -> None:
        """Write what is queued, group after group, until nothing is."""
        group: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._queued:
                group, self._queued = self._queued[: self.most], self._queued[self.most :]
                try:
                    outcomes: Sequence[R | Exception] = await self.write_group(
                        [item for item, _ in group]
                    )
                except Exception as exc:  # the whole group gets it; the next is written
                    outcomes = [exc] * len(group)
                for (_, done), outcome in zip(group, outcomes, strict=True):
                    if done.done():  # its caller was cancelled
                        continue
                    if isinstance(outcome, Exception):
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
                group = []
        except BaseException:  # the process is stopping: no caller waits forever
            for _, done in group + self._queued:
                if not done.done():
                    done.set_exception(Unavailable("the service is stopping"))
            self._queued = []
            raise
        finally:  # at once: a write queued from now on starts another writer
            self._writers.discard(asyncio.current_task())
