"""Running one job from the SLIPWAY_JOBS work queue: heartbeats, retries, a terminal end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from pymongo.errors import PyMongoError

from slipway_libs.errors import PermanentError, RetryableError, Unavailable

log = logging.getLogger(__name__)


class Delivery(Protocol):
    """The parts of a JetStream message a job needs (FastStream's NatsMessage has them)."""

    async def ack(self) -> None: ...
    async def nack(self, delay: float | None = None) -> None: ...
    async def in_progress(self) -> None: ...


def delivery_count(msg: object) -> int:
    """How many times JetStream has delivered this message (1 on the first delivery)."""
    raw = getattr(msg, "raw_message", None)
    metadata = getattr(raw, "metadata", None)
    return int(getattr(metadata, "num_delivered", 1) or 1)


async def _heartbeat(msg: Delivery, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()


async def run_job(
    msg: Delivery,
    *,
    work: Callable[[], Awaitable[None]],
    give_up: Callable[[str], Awaitable[None]],
    attempt: int,
    max_attempts: int,
    heartbeat_s: float,
) -> None:
    """Run `work`, telling JetStream it is in progress every `heartbeat_s`.

    - success: ack;
    - PermanentError: `give_up(reason)` (terminal state), then ack;
    - RetryableError (or an unexpected error): nack with a growing delay, and on the
      last allowed attempt `give_up` with the last reason, then ack.
    If `give_up` itself cannot be stored, the message is nacked and comes back later.
    """
    beat = asyncio.create_task(_heartbeat(msg, heartbeat_s))
    try:
        try:
            await work()
        except PermanentError as exc:
            await give_up(str(exc))
        except Exception as exc:
            if not isinstance(exc, (RetryableError, Unavailable, PyMongoError)):
                log.exception("job failed unexpectedly", extra={"attempt": attempt})
            reason = str(exc) or type(exc).__name__
            if attempt >= max_attempts:
                await give_up(f"gave up after {attempt} attempts: {reason}")
            else:
                log.warning("job will be retried", extra={"attempt": attempt, "error": reason})
                await msg.nack(delay=min(2.0**attempt, 60.0))
                return
        await msg.ack()
    except (Unavailable, PyMongoError) as exc:
        log.warning("job outcome not stored; redelivering", extra={"error": repr(exc)})
        await msg.nack(delay=2.0)
    finally:
        beat.cancel()
