"""ContainerImage end to end: REST in, real Docker builds, events out."""

from __future__ import annotations

import subprocess
import uuid

import docker
import pytest

from slipway_contracts import subjects
from slipway_contracts.events import CloudEvent
from tests.events import events_for, replay
from tests.stack import wait_status
from tests.waiting import poll

PROBLEM = "application/problem+json"
IMAGE = subjects.CONTAINER_IMAGE


def image_body(**overrides):
    body = {
        "name": f"e2e/hello-{uuid.uuid4().hex[:8]}",
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": "hello-server"},
    }
    return {**body, **overrides}


def test_an_example_builds_for_real_and_reports_the_engine_size(api, stack):
    response = api.post("/api/container-images", json=image_body())
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "building"
    assert response.headers["Location"] == f"/api/container-images/{created['id']}"
    assert response.headers["ETag"] == '"1"'

    built = wait_status(api, response.headers["Location"], {"built", "failed"})
    assert built["status"] == "built", built["reason"]
    inspected = stack.engine().api.inspect_image(f"{created['name']}:1.0.0")
    assert built["size"] == inspected["Size"] > 0
    assert built["user"] == "65532:65532"
    assert built["image_id"] == inspected["Id"]
    assert api.get(response.headers["Location"]).headers["ETag"] == f'"{built["revision"]}"'


def test_a_failing_step_fails_the_image_with_that_step_quoted_and_logs_kept(api):
    response = api.post("/api/container-images", json=image_body(build={"context": "broken-build"}))
    failed = wait_status(api, response.headers["Location"], {"built", "failed"})
    assert failed["status"] == "failed"
    assert "COPY does-not-exist.txt /app/" in failed["reason"]
    logs = api.get(f"{response.headers['Location']}/logs")
    assert logs.status_code == 200
    assert "Step 2/3 : COPY does-not-exist.txt /app/" in logs.text
    assert "ERROR: COPY failed" in logs.text


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "Todo_Backend!"}, "name"),
        ({"tag": "v1.x"}, "tag"),
        ({"build": {"context": "/etc"}}, "build.context"),
        ({"build": {"context": "../../"}}, "build.context"),
        (
            {"build": {"context": "hello-server", "dockerfile": "../../Dockerfile"}},
            "build.dockerfile",
        ),
        ({"replicas": 3}, "replicas"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_stores_nothing(api, stack, overrides, field):
    body = image_body(**overrides)
    response = api.post("/api/container-images", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]
    names = [
        i["name"] for i in api.get("/api/container-images", params={"limit": 500}).json()["items"]
    ]
    assert body.get("name") not in names
    image_events = replay(stack.events_reader, subjects.event(IMAGE, ">"))
    assert not [e for _, e in image_events if e["data"].get("name") == body.get("name")]


def test_events_are_cloudevents_with_rising_entityversion_and_replayable(api, stack):
    location = api.post("/api/container-images", json=image_body()).headers["Location"]
    image = wait_status(api, location, {"built", "failed"})
    # A built image is scanned next (issue 13): its `scanned` event follows `built`.
    expected = [subjects.event(IMAGE, "created"), subjects.event(IMAGE, image["status"])]
    if image["status"] == "built":
        expected.append(subjects.event(IMAGE, "scanned"))
    events = poll(
        lambda: (
            (found := events_for(stack.events_reader, image["id"]))
            and len(found) >= len(expected)
            and found
        )
    )
    assert [s for s, _ in events] == expected
    for _, event in events:
        CloudEvent.model_validate(event)  # the envelope of the contract
        assert event["specversion"] == "1.0"
        assert event["subject"] == image["id"]
    assert [e["entityversion"] for _, e in events] == list(range(1, len(expected) + 1))
    assert events[1][1]["type"] == f"io.slipway.container_image.{image['status']}.v1"
    assert events[1][1]["data"]["previous_status"] == "building"
    assert events[0][1]["correlationid"] == events[1][1]["correlationid"]


def test_a_stale_if_match_is_refused_with_412(api):
    location = api.post("/api/container-images", json=image_body()).headers["Location"]
    image = wait_status(api, location, {"built", "failed"})
    body = {k: image[k] for k in ("name", "tag", "application", "build")}
    stale = api.put(location, json={**body, "tag": "1.1.0"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == PROBLEM
    assert stale.json()["current_revision"] == image["revision"]
    fresh = api.put(
        location, json={**body, "tag": "1.1.0"}, headers={"If-Match": f'"{image["revision"]}"'}
    )
    assert fresh.status_code == 202
    assert fresh.json()["status"] == "building"
    rebuilt = wait_status(api, location, {"built", "failed"})
    assert rebuilt["tag"] == "1.1.0"
    assert rebuilt["revision"] == image["revision"] + 2


def test_one_idempotency_key_makes_one_entity_and_the_same_response(api):
    body = image_body()
    key = str(uuid.uuid4())
    first = api.post("/api/container-images", json=body, headers={"Idempotency-Key": key})
    second = api.post("/api/container-images", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert first.headers["ETag"] == second.headers["ETag"]
    items = api.get("/api/container-images", params={"limit": 500}).json()["items"]
    assert [i["id"] for i in items if i["name"] == body["name"]] == [first.json()["id"]]
    other = api.post(
        "/api/container-images", json={**body, "tag": "2.0.0"}, headers={"Idempotency-Key": key}
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]


def test_lists_page_with_a_cursor_and_filter_by_status(api):
    for _ in range(3):
        api.post("/api/container-images", json=image_body(build={"context": "broken-build"}))
    seen, cursor = [], None
    while True:
        page = api.get(
            "/api/container-images", params={"limit": 2, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) >= 3
    building = api.get("/api/container-images", params={"status": "building", "limit": 500}).json()[
        "items"
    ]
    assert all(i["status"] == "building" for i in building)
    assert api.get("/api/container-images", params={"status": "sideways"}).status_code == 422


def test_a_built_image_removed_from_the_engine_becomes_failed(api, stack):
    location = api.post("/api/container-images", json=image_body()).headers["Location"]
    image = wait_status(api, location, {"built"})
    # By reference: other tags of the same (deterministic) build stay untouched.
    stack.engine().api.remove_image(f"{image['name']}:{image['tag']}", force=True)
    failed = wait_status(api, location, {"failed"}, timeout_s=30)
    assert "no longer exists in the Docker Engine" in failed["reason"]


def test_delete_removes_the_record_and_the_engine_image_when_asked(api, stack):
    location = api.post("/api/container-images", json=image_body()).headers["Location"]
    image = wait_status(api, location, {"built"})
    assert api.delete(location, params={"remove_image": "true"}).status_code == 204
    assert api.get(location).status_code == 404
    assert api.get(location).headers["content-type"] == PROBLEM
    # The image's own name:tag is gone (its id may live on under other tags of the same build).
    with pytest.raises(docker.errors.ImageNotFound):
        stack.engine().api.inspect_image(f"{image['name']}:{image['tag']}")
    deleted = poll(
        lambda: [
            s for s, _ in events_for(stack.events_reader, image["id"]) if s.endswith(".deleted")
        ]
    )
    assert deleted == [subjects.event(IMAGE, "deleted")]


def test_docker_cli_sees_the_same_size(api, stack):
    if stack.docker_host is not None:
        pytest.skip("the test engine is private; the CLI check runs against the default engine")
    location = api.post("/api/container-images", json=image_body()).headers["Location"]
    image = wait_status(api, location, {"built"})
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", f"{image['name']}:{image['tag']}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout) == image["size"]
