"""Server-sent events: the response that streams them, and their wire form."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

from fastapi.sse import format_sse_event
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

EVENT_STREAM = "text/event-stream"
# No proxy may cache or buffer the stream (nginx honours X-Accel-Buffering).
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# How an OpenAPI operation documents a stream of server-sent events.
SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A stream of server-sent events (`text/event-stream`)",
        "content": {EVENT_STREAM: {"schema": {"type": "string"}}},
    }
}


def sse(data: str, event: str | None = None, event_id: str | int | None = None) -> bytes:
    """One server-sent event."""
    return format_sse_event(
        data_str=data, event=event, id=None if event_id is None else str(event_id)
    )


def comment(text: str) -> bytes:
    """A comment line: ignored by clients, it keeps the connection (and proxies) awake."""
    return format_sse_event(comment=text)


class ClosingStream(StreamingResponse):
    """A streaming response that runs `on_close` once it ends, however it ends: finished,
    failed, or the client gone (even before its first byte)."""

    media_type = EVENT_STREAM

    def __init__(
        self,
        content: AsyncIterable[bytes],
        on_close: Callable[[], Awaitable[None]] | None = None,
        media_type: str = EVENT_STREAM,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            content, media_type=media_type, headers={**STREAM_HEADERS, **(headers or {})}
        )
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.on_close is not None:
                await self.on_close()
