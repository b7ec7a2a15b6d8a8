"""`slipway events` and `slipway images logs --follow` against a fake transport: what they
print, and that a broken stream resumes after the last event printed, none lost or twice;
and shell completion as a shell runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from slipway_cli.client import Api, Config, server_sent_events
from slipway_cli.main import app

IMAGE_ID = "3f2a7c1e-0000-4000-8000-000000000001"


def fake(handler: Any) -> Api:
    transport = httpx.MockTransport(handler)
    return Api(Config("http://slipway.test", "slw_test"), transport=transport, sleep=lambda s: None)


def invoke(api: Api, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), obj=api)


def cloud_event(seq: int, kind: str = "deployment", status: str = "running") -> str:
    event = {
        "specversion": "1.0",
        "id": f"ev-{seq}",
        "type": f"io.slipway.{kind}.{status}.v1",
        "subject": f"e-{seq}",
        "time": "2026-11-30T18:00:00+00:00",
        "data": {"status": status},
    }
    return f"id: {seq}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"


class Broken(httpx.SyncByteStream):
    """A body that sends `chunks`, then breaks like a dropped connection."""

    def __init__(self, chunks: list[str]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            yield chunk.encode()
        raise httpx.ReadError("connection reset")


def test_sse_parsing_follows_the_event_stream_rules():
    lines = [": hello", "id: 7", "event: line", "data: a", "data: b", "", ": heartbeat", ""]
    assert [(e.id, e.event, e.data) for e in server_sent_events(lines)] == [("7", "line", "a\nb")]


def test_events_follow_resumes_after_a_broken_stream_with_last_event_id():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(200, stream=Broken([cloud_event(1), cloud_event(2)]))
        if len(seen) == 2:
            body = cloud_event(3) + ": heartbeat\n\n"
            return httpx.Response(200, stream=Broken([body]))
        return httpx.Response(404, json={"detail": "stop here"})

    result = invoke(fake(handler), "events", "--follow", "--type", "io.slipway.*", "-o", "json")

    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["sequence"] for e in printed] == [1, 2, 3]
    assert printed[0]["type"] == "io.slipway.deployment.running.v1"
    assert "Last-Event-ID" not in seen[0].headers
    assert [r.headers["Last-Event-ID"] for r in seen[1:]] == ["2", "3"]
    assert seen[0].url.params["type"] == "io.slipway.*"
    assert seen[0].url.params["follow"] == "true" and "since" not in seen[0].url.params
    assert result.exit_code == 1  # the last answer, a 404, ends it as an error
    assert "stop here" in result.stderr


def test_events_without_follow_print_a_table_of_what_is_kept_and_end():
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["follow"] == "false"
        assert request.url.params["since"] == "41"
        body = cloud_event(42, "container_image", "built") + ": caught up\n\n"
        return httpx.Response(200, text=body, headers={"Content-Type": "text/event-stream"})

    result = invoke(fake(handler), "events", "--since", "41")

    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["SEQ", "TIME", "TYPE", "SUBJECT", "STATUS"]
    assert row.split()[0] == "42" and row.split()[2:] == [
        "io.slipway.container_image.built.v1",
        "e-42",
        "built",
    ]


def test_a_gone_cursor_is_an_error_naming_it():
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"status": 410, "detail": "events after 3 are no longer kept"}
        return httpx.Response(410, json=body)

    result = invoke(fake(handler), "events", "--since", "3")
    assert result.exit_code == 1
    assert "Error (410): events after 3 are no longer kept" in result.stderr


def log_handler(lines: list[str], end: dict[str, Any]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/logs"):
            assert request.url.params["follow"] == "true"
            assert request.headers["Accept"] == "text/event-stream"
            body = "".join(f"id: {i}\nevent: line\ndata: {t}\n\n" for i, t in enumerate(lines))
            body += f"event: end\ndata: {json.dumps(end)}\n\n"
            return httpx.Response(200, text=body)
        return httpx.Response(200, json={"id": IMAGE_ID, "name": "todo/backend", "tag": "1"})

    return handler


def test_images_logs_follow_prints_the_lines_and_exits_0_when_built():
    handler = log_handler(["Step 1/2 : FROM scratch", "Step 2/2 : COPY . ."], {"status": "built"})
    result = invoke(fake(handler), "images", "logs", IMAGE_ID, "--follow")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["Step 1/2 : FROM scratch", "Step 2/2 : COPY . ."]


def test_images_logs_follow_exits_1_with_the_failing_step():
    reason = "step 2/2 RUN false: exit code 1"
    handler = log_handler(["Step 1/2 : FROM scratch"], {"status": "failed", "reason": reason})
    result = invoke(fake(handler), "images", "logs", IMAGE_ID, "--follow")
    assert result.exit_code == 1
    assert reason in result.stderr


def complete(words: str) -> list[str]:
    """What bash completion offers for `words` (the last one being typed)."""
    script = Path(sys.executable).with_name("slipway")
    env = {
        **os.environ,
        "_SLIPWAY_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - 1),
    }
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_shell_completion_completes_commands_and_options():
    assert complete("slipway ev") == ["events"]
    assert complete("slipway images lo") == ["logs"]
    assert "--follow" in complete("slipway events --f")
