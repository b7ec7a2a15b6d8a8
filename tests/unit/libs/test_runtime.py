"""Process plumbing (`slipway_libs.runtime`)."""

from __future__ import annotations

import asyncio

import pytest

from slipway_libs.runtime import cancelled


async def test_a_task_that_lets_a_cancellation_pass_is_still_stopped():
    """A stop waits for every background task; one that swallowed the first cancellation (as
    Python 3.11's asyncio.wait_for may) is cancelled again, so the stop still ends."""
    waiting, swallowed, never = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def loop_that_misses_a_cancellation() -> None:
        try:
            waiting.set()
            await never.wait()
        except asyncio.CancelledError:
            swallowed.set()  # and runs on, as a retry loop would
        await never.wait()

    task = asyncio.create_task(loop_that_misses_a_cancellation())
    await waiting.wait()
    stop = asyncio.create_task(cancelled(task))
    await asyncio.wait({stop}, timeout=5)  # a deadline; nothing cancels the stop itself
    assert stop.done(), "the stop still waits for the task"
    assert swallowed.is_set()
    assert task.cancelled()


async def test_a_task_that_failed_says_so_when_stopped():
    async def fails() -> None:
        raise RuntimeError("broken")

    task = asyncio.create_task(fails())
    await asyncio.wait({task})
    with pytest.raises(RuntimeError, match="broken"):
        await cancelled(task)
