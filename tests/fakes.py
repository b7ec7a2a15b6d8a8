"""Fakes every service's unit tests share: a JetStream job delivery, a live-progress
channel, and the command id a message would carry. (The in-memory repository and unit of
work are in `tests.memory`.)"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import SimpleNamespace

from slipway_libs import context


class FakeDelivery:
    """A JetStream job message as `run_job` sees it, delivered `attempt` times: whether it
    was acked, and the delay of each nack."""

    def __init__(self, attempt: int = 1) -> None:
        self.raw_message = SimpleNamespace(metadata=SimpleNamespace(num_delivered=attempt))
        self.acked = False
        self.nacked: list[float | None] = []

    async def ack(self) -> None:
        self.acked = True

    async def nack(self, delay: float | None = None) -> None:
        self.nacked.append(delay)

    async def in_progress(self) -> None:
        pass


class FakeProgress:
    """A live-progress channel: `published` holds each batch as `(entity id, operation id,
    lines)`; `lines` every line published, by entity id."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str | None, list[str]]] = []

    async def publish(
        self, entity_id: str, lines: list[str], operation_id: str | None = None
    ) -> None:
        self.published.append((entity_id, operation_id, lines))

    @property
    def lines(self) -> dict[str, list[str]]:
        by_entity: dict[str, list[str]] = {}
        for entity_id, _, lines in self.published:
            by_entity.setdefault(entity_id, []).extend(lines)
        return by_entity


@contextlib.contextmanager
def command_id(value: str) -> Iterator[None]:
    """Run the block as the handling of a message carrying command id `value` (its
    Idempotency-Key)."""
    context.bind("correlation", value)
    try:
        yield
    finally:
        context.bind(None, None)
