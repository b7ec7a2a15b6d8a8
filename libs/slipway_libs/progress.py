"""Live progress of work in flight: lines gathered from a running job (from any thread),
flushed in batches, and published on `slipway.progress.<entity>.<id>`."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from faststream.nats import NatsBroker
from faststream.nats.publisher.usecase import LogicPublisher

from slipway_contracts import subjects
from slipway_contracts.events import ProgressLines
from slipway_libs.errors import Unavailable
from slipway_libs.runtime import cancelled

log = logging.getLogger(__name__)


class ProgressPublisher:
    """Publishes an entity type's progress lines (core NATS, best effort; shown in AsyncAPI)."""

    def __init__(self, broker: NatsBroker, entity: str) -> None:
        self.entity = entity
        self._publisher: LogicPublisher = broker.publisher(
            subjects.progress(entity, "{id}"),
            schema=ProgressLines,
            description=inspect.cleandoc(ProgressLines.__doc__ or ""),
        )

    async def publish(
        self, entity_id: str, lines: list[str], operation_id: str | None = None
    ) -> None:
        """Send `lines` of entity `entity_id`; never raises."""
        message = ProgressLines(id=entity_id, lines=lines, operation_id=operation_id)
        try:
            await self._publisher.publish(
                message.model_dump(mode="json", exclude_none=True),
                subject=subjects.progress(self.entity, entity_id),
            )
        except Exception as exc:  # live progress is best effort
            log.debug("progress not published: %r", exc)


class ProgressBuffer:
    """Lines of a running job, handed in batches to `flush` every `interval_s` while the `async
    with` block runs and at its end; a batch `flush` cannot store (Unavailable) is dropped."""

    def __init__(self, flush: Callable[[list[str]], Awaitable[None]], interval_s: float) -> None:
        self._flush = flush
        self.interval_s = interval_s
        self._pending: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, line: str) -> None:
        """Add a line (from the event loop's thread)."""
        self._pending.append(line)

    def add_threadsafe(self, line: str) -> None:
        """Add a line from another thread (an engine's streaming thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._pending.append, line)

    async def flush(self) -> None:
        """Hand over the lines gathered so far, if any."""
        batch = self._pending[:]
        if not batch:
            return  # a quiet step costs no round trip
        del self._pending[: len(batch)]
        try:
            await self._flush(batch)
        except Unavailable as exc:
            log.warning("progress lines not stored: %s", exc.message)

    async def _keep_flushing(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.flush()

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._keep_flushing())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await cancelled(self._task)
        await asyncio.sleep(0)  # let lines scheduled from other threads land
        await asyncio.shield(self.flush())
