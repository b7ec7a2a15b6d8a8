"""Reading a `text/event-stream` the way a browser's EventSource does, for the tests: the
events (`id`, `event`, `data`) and the comment lines between them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx


@dataclass
class Frame:
    """One event of the stream (`comments`: the comment lines that came with it)."""

    id: str | None = None
    event: str | None = None
    data: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.data)


async def frames(response: httpx.Response) -> AsyncIterator[Frame]:
    """The frames of a streamed response, as they come (a comment-only frame included)."""
    frame = Frame()
    async for line in response.aiter_lines():
        if line == "":
            if frame.data or frame.comments or frame.id or frame.event:
                yield frame
            frame = Frame()
        elif line.startswith(":"):
            frame.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                frame.data.append(value)
            elif name == "id":
                frame.id = value
            elif name == "event":
                frame.event = value


class EventStream:
    """A stream being read: `next_event()` skips comments; `comments` keeps them."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._frames = frames(response)
        self.comments: list[str] = []

    async def next_frame(self, timeout_s: float = 10.0) -> Frame:
        frame = await asyncio.wait_for(anext(self._frames), timeout_s)
        self.comments += frame.comments
        return frame

    async def next_event(self, timeout_s: float = 10.0) -> Frame:
        """The next frame that carries data (AssertionError if none within `timeout_s`)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                frame = await self.next_frame(max(remaining, 0.01))
            except TimeoutError:
                raise AssertionError(f"no event within {timeout_s} s") from None
            if frame.data:
                return frame

    async def events(self, count: int, timeout_s: float = 10.0) -> list[Frame]:
        return [await self.next_event(timeout_s) for _ in range(count)]
