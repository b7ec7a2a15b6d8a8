"""The one way tests wait: poll a check until it holds or a deadline passes (never a bare
sleep). `check` returns something truthy when done; that value is returned."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _failure(what: str, timeout_s: float, last: Any) -> AssertionError:
    return AssertionError(f"{what} did not hold within {timeout_s:g} s (last: {last!r})")


async def eventually(
    check: Callable[[], Awaitable[T]] | Callable[[], T],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.05,
    what: str = "condition",
) -> T:
    """Call (and await, if it is async) `check` until it returns something truthy; return
    that. Fail naming `what` and the last answer after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise _failure(what, timeout_s, last)
        await asyncio.sleep(interval_s)


def poll(
    check: Callable[[], T],
    *,
    timeout_s: float = 60.0,
    interval_s: float = 0.2,
    what: str = "condition",
) -> T:
    """`eventually` for synchronous tests (a blocking check against a running stack)."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise _failure(what, timeout_s, last)
        time.sleep(interval_s)
