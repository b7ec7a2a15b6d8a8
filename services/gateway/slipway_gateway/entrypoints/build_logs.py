"""Following a build's log (`GET /api/container-images/{id}/logs?follow=true`).

The image-builder keeps every line of a build attempt in order and answers the lines from a
given number on (`slipway.container_image.query.logs` with `from_line`). A follower asks for
the lines it has not seen until the image is no longer `building`: lines are stored before
the build's outcome is, so the last answer holds the whole log. A rebuild (a new build
attempt) starts its log over from line 0.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slipway_contracts.entities import ImageStatus
from slipway_gateway.entrypoints.streaming import comment, sse
from slipway_libs.errors import SlipwayError

LogQuery = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class LogLine:
    number: int  # from 0, within the build attempt
    text: str


@dataclass(frozen=True)
class LogEnd:
    """The build ended (`status` built or failed), or the log could no longer be read."""

    status: str | None
    reason: str | None


async def build_log_lines(
    query: LogQuery, image_id: str, first: dict[str, Any], interval_s: float
) -> AsyncIterator[LogLine | LogEnd]:
    """The lines of `first` (the log as read first), then each new one, then a `LogEnd`."""
    log, build_id, seen = first, first.get("build_id"), 0
    while True:
        if log.get("build_id") != build_id:  # rebuilt meanwhile: follow the new attempt
            build_id, seen = log.get("build_id"), 0
            log = await query({"id": image_id, "from_line": 0})
            continue
        for offset, text in enumerate(log["lines"]):
            yield LogLine(log.get("from_line", 0) + offset, text)
        seen = log.get("from_line", 0) + len(log["lines"])
        if log.get("status") != ImageStatus.BUILDING:
            yield LogEnd(log.get("status"), log.get("reason"))
            return
        await asyncio.sleep(interval_s)
        try:
            log = await query({"id": image_id, "from_line": seen})
        except SlipwayError as exc:  # deleted, or the image-builder is gone: say so, end
            yield LogEnd(None, exc.message)
            return


async def log_text(lines: AsyncIterator[LogLine | LogEnd]) -> AsyncIterator[bytes]:
    """The log as plain text, a line at a time (the outcome is the image's status)."""
    async for item in lines:
        if isinstance(item, LogLine):
            yield (item.text + "\n").encode()


async def log_events(lines: AsyncIterator[LogLine | LogEnd]) -> AsyncIterator[bytes]:
    """The log as server-sent events: `line` events, then one `end` event."""
    yield comment("build log")
    async for item in lines:
        if isinstance(item, LogLine):
            yield sse(item.text, event="line", event_id=item.number)
        else:
            yield sse(json.dumps({"status": item.status, "reason": item.reason}), event="end")
