"""Process plumbing shared by the services' composition roots."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.nats import NatsBroker

from slipway_contracts import subjects
from slipway_libs.errors import Unavailable
from slipway_libs.messaging import ensure_streams
from slipway_libs.storage import Database
from slipway_libs.unit_of_work import ok

log = logging.getLogger(__name__)


async def every(interval_s: float, work: Callable[[], Awaitable[Any]], name: str) -> None:
    """Run `work` forever, `interval_s` apart; one failed round is logged, not fatal."""
    while True:
        try:
            await work()
        except Unavailable as exc:
            log.warning(f"{name}: dependency unavailable", extra={"error": exc.message})
        except Exception:
            log.exception(f"{name} failed")
        await asyncio.sleep(interval_s)


async def wait_for_database(database: Database, setup: Callable[[], Awaitable[None]]) -> None:
    """Run `setup` (index creation) as soon as MongoDB answers."""
    while True:
        try:
            await database.ping()
            await setup()
            return
        except Unavailable as exc:
            log.warning("waiting for MongoDB", extra={"error": exc.message})
            await asyncio.sleep(1)


async def connect_bus(broker: NatsBroker) -> None:
    """Connect to NATS and make sure the Slipway streams exist."""
    await broker.connect()
    await ensure_streams(broker.connection.jetstream())


def add_health(broker: NatsBroker, service: str, database: Callable[[], Database | None]) -> None:
    """Answer `slipway.health.<service>` with ok when the service's MongoDB answers."""

    @broker.subscriber(subjects.health(service), queue=service, include_in_schema=False)
    async def health() -> dict[str, Any]:
        db = database()
        if db is None:
            raise Unavailable(f"{service} is starting")
        await db.ping()
        return ok({"service": service})


class Background:
    """Tasks that live as long as the service."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def start(self, coro: Awaitable[Any]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
