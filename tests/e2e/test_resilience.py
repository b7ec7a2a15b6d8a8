"""Dependencies going down and processes dying: nothing lost, nothing twice, no 500s.

These tests stop and kill parts of their own stack, so they do not share the session's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pymongo
import pytest

from tests.events import events_for
from tests.stack import Stack, poll, running_stack, wait_status


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("resilience")) as running:
        yield running


@pytest.fixture
def client(own_stack: Stack) -> Iterator[httpx.Client]:
    with own_stack.client() as http:
        yield http


def body(context: str = "hello-server") -> dict[str, object]:
    return {
        "name": f"resilience/app-{uuid.uuid4().hex[:8]}",
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": context},
    }


def pending_outbox(stack: Stack) -> int:
    with pymongo.MongoClient(stack.mongodb_uri) as mongo:
        return int(mongo.slipway_image_builder.outbox.count_documents({"published_at": None}))


def test_nats_down_is_a_503_with_retry_after_and_pending_events_go_out_once(client, own_stack):
    location = client.post("/api/container-images", json=body("broken-build")).headers["Location"]
    image_id = location.rsplit("/", 1)[1]
    # Hold the job in the work queue: stop the builder so the build runs only after NATS is back.
    own_stack.services["image-builder"].stop()
    own_stack.stop_nats()
    try:
        for path in ("/api/container-images", location, "/readyz"):
            response = client.get(path)
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["Retry-After"]) > 0
        refused = client.post("/api/container-images", json=body())
        assert refused.status_code == 503
    finally:
        own_stack.restart_nats()
        own_stack.start_service("image-builder", "slipway_image_builder")
    own_stack.wait_ready()
    wait_status(client, location, {"failed"})
    poll(lambda: pending_outbox(own_stack) == 0, what="outbox drained")
    events = poll(
        lambda: (e := events_for(own_stack.events_reader, image_id)) and len(e) >= 2 and e
    )
    assert [s.rsplit(".", 1)[1] for s, _ in events] == ["created", "failed"]
    assert len({e["id"] for _, e in events}) == len(events)


def test_events_committed_while_nats_is_down_are_published_after(client, own_stack):
    location = client.post("/api/container-images", json=body()).headers["Location"]
    wait_status(client, location, {"built"})
    # A built image is scanned next: wait for its scan, so its `scanned` event comes first.
    image = poll(
        lambda: (
            (found := client.get(location).json()).get("scan")
            and found["scan"]["status"] != "pending"
            and found
        ),
        what="the image's scan",
    )
    with pymongo.MongoClient(own_stack.mongodb_uri) as mongo:
        # The engine image vanishes while NATS is down: the builder commits `failed`
        # with its event to the outbox, which must wait for NATS.
        own_stack.stop_nats()
        try:
            own_stack.engine().api.remove_image(f"{image['name']}:{image['tag']}", force=True)
            poll(
                lambda: (
                    mongo.slipway_image_builder.container_images.find_one({"_id": image["id"]})[
                        "status"
                    ]
                    == "failed"
                ),
                what="image failed in MongoDB",
            )
            assert pending_outbox(own_stack) >= 1
        finally:
            own_stack.restart_nats()
    poll(lambda: pending_outbox(own_stack) == 0, what="outbox drained")
    events = poll(
        lambda: (e := events_for(own_stack.events_reader, image["id"])) and len(e) >= 4 and e
    )
    assert [s.rsplit(".", 1)[1] for s, _ in events] == ["created", "built", "scanned", "failed"]
    assert [e["entityversion"] for _, e in events] == [1, 2, 3, 4]


def test_a_builder_killed_mid_build_still_ends_the_image(client, own_stack):
    context = own_stack.build_root / f"big-{uuid.uuid4().hex[:6]}"
    context.mkdir()
    (context / "blob").write_bytes(os.urandom(300 * 1024 * 1024))  # long enough to kill mid-build
    (context / "Dockerfile").write_text("FROM scratch\nCOPY blob /blob\nUSER 65532\n")
    location = client.post("/api/container-images", json=body(str(context))).headers["Location"]
    builder = own_stack.services["image-builder"]
    poll(
        lambda: "Step" in client.get(f"{location}/logs").text,
        timeout_s=30,
        interval_s=0.05,
        what="build started",
    )
    builder.kill()  # SIGKILL mid-build
    assert (
        client.get(location).status_code == 503
        or client.get(location).json()["status"] == "building"
    )
    own_stack.start_service("image-builder", "slipway_image_builder")
    final = wait_status(client, location, {"built", "failed"}, timeout_s=120)
    assert final["status"] in {"built", "failed"}
