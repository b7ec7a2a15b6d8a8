"""Running jobs of the SLIPWAY_JOBS work queue: the durable consumer, heartbeats, retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsRouter, PullSub
from faststream.nats.subscriber.usecases import LogicSubscriber
from pymongo.errors import PyMongoError

from slipway_contracts.subjects import JOBS_STREAM
from slipway_libs.errors import PermanentError, RetryableError, Unavailable
from slipway_libs.settings import CommonSettings
from slipway_observability.metrics import observe_job

log = logging.getLogger(__name__)


class Delivery(Protocol):
    """The parts of a JetStream message a job needs (FastStream's NatsMessage has them)."""

    async def ack(self) -> None: ...
    async def nack(self, delay: float | None = None) -> None: ...
    async def in_progress(self) -> None: ...


def delivery_count(msg: Any) -> int:
    """How many times JetStream has delivered this message (1 on the first delivery)."""
    with contextlib.suppress(Exception):  # not a JetStream message (FastStream's test broker)
        return int(msg.raw_message.metadata.num_delivered or 1)
    return 1


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
    """Run `work` with a heartbeat every third of `job_ack_wait_s`, then ack. PermanentError,
    or any error on attempt `job_max_deliver`: `give_up(reason)` (terminal state), then ack;
    any other error: nack with a growing delay. If `give_up` cannot be stored, nack."""
    attempt = delivery_count(msg)
    beat = asyncio.create_task(_heartbeat(msg, max(settings.job_ack_wait_s / 3, 0.2)))
    started, outcome = time.monotonic(), "succeeded"
    try:
        try:
            await work()
        except PermanentError as exc:
            outcome = "failed"
            await give_up(str(exc))
        except Exception as exc:
            if not isinstance(exc, (RetryableError, Unavailable, PyMongoError)):
                log.exception("job failed unexpectedly", extra={"attempt": attempt})
            reason = str(exc) or type(exc).__name__
            outcome = "failed" if attempt >= settings.job_max_deliver else "retried"
            if outcome == "failed":
                await give_up(f"gave up after {attempt} attempts: {reason}")
            else:
                log.warning("job will be retried", extra={"attempt": attempt, "error": reason})
                await msg.nack(delay=min(2.0**attempt, 60.0))
                return
        await msg.ack()
    except (Unavailable, PyMongoError) as exc:
        outcome = "redelivered"
        log.warning("job outcome not stored; redelivering", extra={"error": repr(exc)})
        await msg.nack(delay=2.0)
    finally:
        beat.cancel()
        subject = getattr(getattr(msg, "raw_message", None), "subject", "")
        observe_job(str(subject), outcome, time.monotonic() - started)


def job_subscriber(
    router: NatsRouter,
    subject: str,
    durable: str,
    settings: CommonSettings,
    *,
    max_workers: int | None = None,
    max_ack_pending: int | None = None,
) -> LogicSubscriber[Any]:
    """Subscribe the decorated handler (it acks: see `run_job`) to the jobs on `subject`: a
    durable pull consumer shared by the replicas, one job per pull, `max_workers` at a time."""
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
