"""Running one job from the SLIPWAY_JOBS work queue: the durable consumer, heartbeats,
retries, a terminal end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsRouter, PullSub
from faststream.nats.subscriber.usecases import LogicSubscriber
from pymongo.errors import PyMongoError

from slipway_contracts.subjects import JOBS_STREAM
from slipway_libs.aggregate import Aggregate
from slipway_libs.errors import PermanentError, RetryableError, Unavailable
from slipway_libs.settings import CommonSettings

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate[Any])


class Delivery(Protocol):
    """The parts of a JetStream message a job needs (FastStream's NatsMessage has them)."""

    async def ack(self) -> None: ...
    async def nack(self, delay: float | None = None) -> None: ...
    async def in_progress(self) -> None: ...


def delivery_count(msg: object) -> int:
    """How many times JetStream has delivered this message (1 on the first delivery)."""
    raw = getattr(msg, "raw_message", None)
    try:
        metadata = getattr(raw, "metadata", None)
    except Exception:  # not a JetStream message (FastStream's test broker): the first delivery
        return 1
    return int(getattr(metadata, "num_delivered", 1) or 1)


async def _heartbeat(msg: Delivery, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()


async def run_job(
    msg: Delivery,
    settings: CommonSettings,
    *,
    work: Callable[[], Awaitable[None]],
    give_up: Callable[[str], Awaitable[None]],
) -> None:
    """Run `work`, telling JetStream it is in progress every third of `job_ack_wait_s`,
    within `job_max_deliver` attempts. Success: ack. PermanentError: `give_up(reason)`
    (terminal state), then ack. Any other error: nack with a growing delay, but on the last
    attempt `give_up` and ack. If `give_up` cannot be stored, nack: the job comes back later.
    """
    attempt = delivery_count(msg)
    max_attempts = settings.job_max_deliver
    beat = asyncio.create_task(_heartbeat(msg, max(settings.job_ack_wait_s / 3, 0.2)))
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


def job_subscriber(
    router: NatsRouter,
    subject: str,
    durable: str,
    settings: CommonSettings,
    *,
    max_workers: int | None = None,
    max_ack_pending: int | None = None,
) -> LogicSubscriber[Any]:
    """Subscribe the decorated handler (it acks: see `run_job`) to the jobs on `subject` of
    SLIPWAY_JOBS: a durable pull consumer `durable` shared by the replicas, one job per pull,
    `max_workers` at a time. A job without a heartbeat for `job_ack_wait_s` is redelivered,
    at most `job_max_deliver` + 1 times."""
    return router.subscriber(
        subject,
        stream=JStream(JOBS_STREAM, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        max_workers=max_workers,
        config=ConsumerConfig(
            ack_wait=settings.job_ack_wait_s,
            max_deliver=settings.job_max_deliver + 1,
            max_ack_pending=max_ack_pending,
        ),
    )
