"""Timing: operations driven at a fixed number in flight, latency summaries, throughput."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

Operation = Callable[[int], Awaitable[None]]
T = TypeVar("T")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q`-quantile (0 < q <= 1) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def latency_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """p50, p90, p99, mean and max of latencies given in seconds, in milliseconds."""
    return {
        "count": len(seconds),
        "p50_ms": ms(percentile(seconds, 0.50)),
        "p90_ms": ms(percentile(seconds, 0.90)),
        "p99_ms": ms(percentile(seconds, 0.99)),
        "mean_ms": ms(sum(seconds) / len(seconds)) if seconds else None,
        "max_ms": ms(max(seconds)) if seconds else None,
    }


@dataclass
class Run:
    """What driving an operation `total` times at `in_flight` found."""

    in_flight: int
    total: int
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    wall_s: float = 0.0

    @property
    def ops_per_s(self) -> float | None:
        return round(len(self.latencies_s) / self.wall_s, 1) if self.wall_s > 0 else None

    def summary(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "ops": self.total,
            "ok": len(self.latencies_s),
            "errors": self.errors,
            "first_error": self.first_error,
            "wall_s": round(self.wall_s, 3),
            "ops_per_s": self.ops_per_s,
            "latency": latency_ms(self.latencies_s),
        }


async def drive(operation: Operation, total: int, in_flight: int, first: int = 0) -> Run:
    """Run `operation(i)` for i in first..first+total-1, `in_flight` at a time (closed loop:
    each worker sends the next as soon as its last one answered). An operation that raises
    counts as an error, not as a latency."""
    run = Run(in_flight, total)
    numbers = itertools.count(first)
    end = first + total

    async def worker() -> None:
        while (i := next(numbers)) < end:
            started = time.perf_counter()
            try:
                await operation(i)
            except Exception as exc:
                run.errors += 1
                run.first_error = run.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            run.latencies_s.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(in_flight, total)))))
    run.wall_s = time.perf_counter() - started
    return run


async def warm_then_drive(operation: Operation, total: int, in_flight: int, warmup: int) -> Run:
    """`drive`, after `warmup` untimed operations at the same concurrency."""
    if warmup:
        await drive(operation, warmup, in_flight, first=total)
    return await drive(operation, total, in_flight)


def ratio(value: float | None, reference: float | None) -> float | None:
    """value / reference, rounded; None when either is missing or the reference is 0."""
    if value is None or not reference:
        return None
    return round(value / reference, 3)


async def until(
    check: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, interval_s: float = 0.1
) -> T:
    """Await `check` until it returns something (not None, not False); return it. A
    TimeoutError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await check()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s:g} s")
        await asyncio.sleep(interval_s)
