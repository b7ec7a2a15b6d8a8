"""Events over HTTP on the whole stack, as a user meets them (the gateway as its own NATS
principal, a real image build as the source of events):

- `curl -N` on `/api/events` with a token streams new events;
- reconnecting with `Last-Event-ID` replays exactly the missed events, in order;
- a webhook to a local receiver gets each matching event once, in the CloudEvents content
  type, each verifying with the Standard Webhooks library; down for a while (30 s in the
  acceptance; `SLIPWAY_TEST_WEBHOOK_OUTAGE_S`, 5 s by default), then up, it gets the backlog;
- `slipway images logs --follow` follows a build live to its end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from slipway_contracts import subjects
from tests.events import replay
from tests.stack import Stack, wait_status
from tests.waiting import poll

pytestmark = pytest.mark.slow

OUTAGE_S = float(os.environ.get("SLIPWAY_TEST_WEBHOOK_OUTAGE_S", "5"))
IMAGE = subjects.CONTAINER_IMAGE


def image_body() -> dict[str, Any]:
    return {
        "name": f"e2e/events-{uuid.uuid4().hex[:8]}",
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": "hello-server"},
    }


class Lines:
    """The lines a process writes, gathered by a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout
        self.thread = threading.Thread(
            target=lambda: self.lines.extend(line.rstrip("\n") for line in stdout), daemon=True
        )
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [
            json.loads(line[len("data: ") :]) for line in self.lines if line.startswith("data:")
        ]


@pytest.fixture
def curl_events(stack: Stack) -> Iterator[Lines]:
    token = stack.admin_token_file.read_text().strip()
    process = subprocess.Popen(
        [
            "curl",
            "-sSN",
            "-H",
            f"Authorization: Bearer {token}",
            f"{stack.base_url}/api/events?kind={IMAGE}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = Lines(process)
    try:
        poll(lambda: any(line.startswith(":") for line in lines.lines), what="the stream's start")
        yield lines
    finally:
        process.terminate()
        process.wait(10)


def test_curl_streams_new_events_with_a_token(stack: Stack, api: httpx.Client, curl_events: Lines):
    created = api.post("/api/container-images", json=image_body()).json()
    image = wait_status(api, f"/api/container-images/{created['id']}", {"built", "failed"})

    def mine() -> list[dict[str, Any]]:
        return [e for e in curl_events.events() if e["subject"] == image["id"]]

    poll(lambda: len(mine()) >= 2, what="the image's events on the stream")
    events = mine()
    assert [e["type"] for e in events] == [
        f"io.slipway.{IMAGE}.created.v1",
        f"io.slipway.{IMAGE}.{image['status']}.v1",
    ]
    assert f"event: io.slipway.{IMAGE}.created.v1" in curl_events.lines


def test_last_event_id_replays_exactly_the_missed_events_in_order(stack: Stack, api: httpx.Client):
    # Seen so far: every event up to now. Then the client is away while an image builds.
    with api.stream("GET", "/api/events", params={"since": "0", "follow": "false"}) as response:
        ids = [line for line in response.iter_lines() if line.startswith("id: ")]
    last_seen = ids[-1].removeprefix("id: ") if ids else "0"
    created = api.post("/api/container-images", json=image_body()).json()
    wait_status(api, f"/api/container-images/{created['id']}", {"built", "failed"})

    headers = {"Last-Event-ID": last_seen}
    with api.stream("GET", "/api/events", params={"follow": "false"}, headers=headers) as response:
        assert response.status_code == 200
        body = [line for line in response.iter_lines()]
    sequences = [int(line.removeprefix("id: ")) for line in body if line.startswith("id: ")]
    replayed = [json.loads(line[len("data: ") :]) for line in body if line.startswith("data: ")]

    assert sequences == list(range(int(last_seen) + 1, int(last_seen) + 1 + len(sequences)))
    kept = [event for _, event in replay(stack.events_reader)]
    assert [e["id"] for e in replayed] == [e["id"] for e in kept[int(last_seen) :]][: len(replayed)]
    assert created["id"] in {e["subject"] for e in replayed}


class Receiver:
    """A webhook receiver on 127.0.0.1 (a thread), that can go down and come back up on
    its port."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.port = 0
        self.server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slipway"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.up()
    try:
        yield running
    finally:
        running.down()


def test_a_webhook_receiver_down_for_a_while_gets_the_backlog_once_each_verified(
    stack: Stack, api: httpx.Client, receiver: Receiver
):
    body = {"url": receiver.url, "events": [f"io.slipway.{IMAGE}.*"], "description": "e2e"}
    response = api.post("/api/webhooks", json=body)
    assert response.status_code == 201, response.text
    webhook = response.json()
    receiver.down()
    down_at = time.monotonic()
    created = api.post("/api/container-images", json=image_body()).json()
    image = wait_status(api, f"/api/container-images/{created['id']}", {"built", "failed"})
    log_path = f"/api/webhooks/{webhook['id']}/deliveries"
    poll(
        lambda: any(d["outcome"] == "retrying" for d in api.get(log_path).json()["items"]),
        what="a failed delivery",
    )
    poll(lambda: time.monotonic() - down_at >= OUTAGE_S, timeout_s=OUTAGE_S + 5, what="outage")
    receiver.up()

    # created, then built or failed; a built image is scanned next (its `scanned` event).
    expected = [f"io.slipway.{IMAGE}.created.v1", f"io.slipway.{IMAGE}.{image['status']}.v1"]
    if image["status"] == "built":
        expected.append(f"io.slipway.{IMAGE}.scanned.v1")
    poll(
        lambda: (
            len([r for r in receiver.received if image["id"].encode() in r[1]]) >= len(expected)
        ),
        timeout_s=OUTAGE_S + 120,
        what="the backlog",
    )
    verifier = Verifier(webhook["secret"])
    delivered = [verifier.verify(body, headers) for headers, body in receiver.received]
    assert all(
        h["content-type"].startswith("application/cloudevents+json") for h, _ in receiver.received
    )
    ids = [e["id"] for e in delivered]
    assert len(ids) == len(set(ids))  # each once
    for_image = [e["type"] for e in delivered if e["subject"] == image["id"]]
    assert for_image == expected
    assert api.get(f"/api/webhooks/{webhook['id']}").json()["status"] == "active"
    assert api.delete(f"/api/webhooks/{webhook['id']}").status_code == 204


def slipway(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SLIPWAY_URL": stack.base_url,
        "SLIPWAY_TOKEN": stack.admin_token_file.read_text().strip(),
    }
    return subprocess.run(
        [sys.executable, "-m", "slipway_cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_images_logs_follow_follows_a_build_to_its_end(stack: Stack, api: httpx.Client):
    created = api.post("/api/container-images", json=image_body()).json()
    run = slipway(stack, "images", "logs", created["id"], "--follow")
    image = api.get(f"/api/container-images/{created['id']}").json()
    assert image["status"] != "building"  # it returned once the build ended
    assert run.returncode == (0 if image["status"] == "built" else 1), run.stderr
    assert run.stdout == api.get(f"/api/container-images/{created['id']}/logs").text


def test_slipway_events_prints_the_kept_events_as_json_lines(stack: Stack, api: httpx.Client):
    created = api.post("/api/container-images", json=image_body()).json()
    image = wait_status(api, f"/api/container-images/{created['id']}", {"built", "failed"})

    run = slipway(
        stack, "events", "--since", "0", "--kind", IMAGE, "--entity", image["id"], "-o", "json"
    )

    assert run.returncode == 0, run.stderr
    printed = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["type"] for e in printed] == [
        f"io.slipway.{IMAGE}.created.v1",
        f"io.slipway.{IMAGE}.{image['status']}.v1",
    ]
    assert printed[0]["sequence"] < printed[1]["sequence"]
