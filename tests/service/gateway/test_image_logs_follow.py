"""`GET /api/container-images/{id}/logs?follow=true`: a build's log streamed live until the
build ends, as plain text or as server-sent events; without `follow`, the log as it is."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from slipway_libs.errors import NotFound
from tests.service.gateway.conftest import Responders, StubService, assert_problem
from tests.sse import EventStream


@dataclass
class Build:
    """A build in progress as the image-builder keeps it: lines so far, status, reason."""

    lines: list[str] = field(default_factory=list)
    status: str = "building"
    reason: str | None = None
    asked_from: list[int] = field(default_factory=list)

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload["id"] != "img-1":
            raise NotFound(f"container_image '{payload['id']}' does not exist")
        start = payload.get("from_line", 0)
        self.asked_from.append(start)
        return {
            "id": "img-1",
            "build_id": "b1",
            "status": self.status,
            "reason": self.reason,
            "from_line": start,
            "lines": self.lines[start:],
        }


async def build_service(serve: Responders) -> Build:
    build = Build(lines=["Step 1/3 : FROM scratch"])
    await serve(
        StubService(
            "container_image",
            lambda p: p,
            answers={"slipway.container_image.query.logs": build.answer},
        )
    )
    return build


async def test_follow_streams_new_lines_until_the_build_ends(
    gateway: httpx.AsyncClient, serve: Responders
) -> None:
    build = await build_service(serve)
    path = "/api/container-images/img-1/logs"
    async with gateway.stream("GET", path, params={"follow": "true"}, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        lines = response.aiter_lines()
        assert await anext(lines) == "Step 1/3 : FROM scratch"
        build.lines += ["Step 2/3 : COPY . .", "Step 3/3 : USER 1000"]
        assert await anext(lines) == "Step 2/3 : COPY . ."
        assert await anext(lines) == "Step 3/3 : USER 1000"
        build.lines.append("Successfully built")
        build.status = "built"
        rest = [line async for line in lines]  # the stream ends with the build

    assert rest == ["Successfully built"]
    # it asked only for what it had not seen
    assert build.asked_from[-1] == 3


async def test_follow_as_server_sent_events_ends_with_the_outcome(
    gateway: httpx.AsyncClient, serve: Responders
) -> None:
    build = await build_service(serve)
    path = "/api/container-images/img-1/logs"
    headers = {"Accept": "text/event-stream"}
    async with gateway.stream("GET", path, params={"follow": "true"}, headers=headers) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventStream(response)
        first = await stream.next_event()
        build.lines.append("RUN false: exit code 1")
        build.status, build.reason = "failed", "step 2/3 RUN false: exit code 1"
        second, end = await stream.events(2)

    assert (first.event, first.id, first.text) == ("line", "0", "Step 1/3 : FROM scratch")
    assert (second.event, second.id, second.text) == ("line", "1", "RUN false: exit code 1")
    assert end.event == "end"
    assert json.loads(end.text) == {"status": "failed", "reason": build.reason}


async def test_without_follow_the_log_is_answered_as_it_is(
    gateway: httpx.AsyncClient, serve: Responders
) -> None:
    build = await build_service(serve)
    response = await gateway.get("/api/container-images/img-1/logs")
    assert response.text == "Step 1/3 : FROM scratch\n"
    assert build.status == "building"  # it did not wait for the end
    response = await gateway.get("/api/container-images/nope/logs", params={"follow": "true"})
    assert_problem(response, 404)


async def test_last_event_id_resumes_a_followed_log_after_that_line(
    gateway: httpx.AsyncClient, serve: Responders
) -> None:
    build = await build_service(serve)
    build.lines += ["Step 2/3 : COPY . .", "Step 3/3 : USER 1000"]
    build.status = "built"
    headers = {"Accept": "text/event-stream", "Last-Event-ID": "0"}
    path = "/api/container-images/img-1/logs"
    async with gateway.stream("GET", path, params={"follow": "true"}, headers=headers) as response:
        frames = await EventStream(response).events(3)

    assert [(f.id, f.text) for f in frames[:2]] == [
        ("1", "Step 2/3 : COPY . ."),
        ("2", "Step 3/3 : USER 1000"),
    ]
    assert frames[2].event == "end"
