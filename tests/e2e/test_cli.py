"""The `slipway` CLI against the whole running stack, run as a user runs it: a subprocess
with SLIPWAY_URL and SLIPWAY_TOKEN set and stdin closed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_workloads import start_cluster
from tests.stack import Stack

pytestmark = pytest.mark.slow


def slipway(stack: Stack, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SLIPWAY_URL": stack.base_url,
        "SLIPWAY_TOKEN": token or stack.admin_token_file.read_text().strip(),
    }
    return subprocess.run(
        [sys.executable, "-m", "slipway_cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


@pytest.fixture(scope="module")
def built(stack: Stack) -> dict[str, Any]:
    name = f"cli/backend-{uuid.uuid4().hex[:6]}"
    run = slipway(
        stack,
        "images",
        "build",
        "hello-server",
        "--name",
        name,
        "--tag",
        "1.0.0",
        "--wait",
        "-o",
        "json",
    )
    assert run.returncode == 0, run.stderr
    assert "built" in run.stderr
    image = json.loads(run.stdout)
    assert image["status"] == "built"
    return dict(image)


def test_images_build_wait_exits_0_and_prints_built(stack):
    name = f"cli/backend-{uuid.uuid4().hex[:6]}"
    run = slipway(
        stack, "images", "build", "hello-server", "--name", name, "--tag", "1.0.0", "--wait"
    )
    assert run.returncode == 0, run.stderr
    assert "built" in run.stdout
    assert f"{name}:1.0.0: built" in run.stderr


def test_a_broken_build_exits_non_zero_naming_the_failing_step(stack):
    name = f"cli/broken-{uuid.uuid4().hex[:6]}"
    run = slipway(
        stack, "images", "build", "broken-build", "--name", name, "--tag", "1.0.0", "--wait"
    )
    assert run.returncode == 1, run.stdout
    assert "failed" in run.stderr
    assert "COPY does-not-exist.txt /app/" in run.stderr


def test_images_list_as_json_parses_and_holds_the_built_image(stack, built):
    run = slipway(stack, "images", "list", "-o", "json")
    assert run.returncode == 0, run.stderr
    assert built["id"] in [image["id"] for image in json.loads(run.stdout)]
    one = slipway(stack, "images", "get", f"{built['name']}:1.0.0", "-o", "yaml")
    assert one.returncode == 0, one.stderr
    assert f"id: {built['id']}" in one.stdout
    logs = slipway(stack, "images", "logs", built["id"], "--follow")
    assert logs.returncode == 0, logs.stderr
    assert "Successfully built" in logs.stdout or "Step 1/" in logs.stdout


def test_deploy_wait_ends_with_the_deployment_running(stack, admin, built):
    cluster = start_cluster(admin, f"cli-{uuid.uuid4().hex[:6]}")
    name = f"cli-web-{uuid.uuid4().hex[:6]}"
    run = slipway(
        stack,
        "deploy",
        name,
        "--image",
        f"{built['name']}:1.0.0",
        "--cluster",
        cluster["name"],
        "--replicas",
        "2",
        "--port",
        "8080",
        "--wait",
        "-o",
        "json",
    )
    assert run.returncode == 0, run.stderr
    deployment = json.loads(run.stdout)
    assert deployment["status"] == "running"
    assert deployment["available_replicas"] == 2
    assert admin.get(f"/api/deployments/{deployment['id']}").json()["status"] == "running"
    listed = slipway(stack, "deployments", "list")
    assert name in listed.stdout and "running" in listed.stdout


def test_a_viewer_token_cannot_deploy_and_is_told_the_role_needed(stack, built):
    made = slipway(
        stack,
        "tokens",
        "create",
        f"cli-viewer-{uuid.uuid4().hex[:6]}",
        "--role",
        "viewer",
        "-o",
        "json",
    )
    assert made.returncode == 0, made.stderr
    viewer = json.loads(made.stdout)["token"]
    run = slipway(
        stack,
        "deploy",
        "nope",
        "--image-id",
        built["id"],
        "--cluster-id",
        str(uuid.uuid4()),
        token=viewer,
    )
    assert run.returncode == 1
    assert "Error (403)" in run.stderr
    assert "this needs the operator role" in run.stderr


def test_a_usage_error_exits_2_and_status_reports_ready(stack):
    assert slipway(stack, "deploy", "nope").returncode == 2
    run = slipway(stack, "status", "-o", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["ready"]["status"] == "ready"
    assert {row["entity"] for row in report["counts"]} >= {"images", "deployments"}


def test_webhooks_create_list_enable_and_delete(stack):
    made = slipway(
        stack,
        "webhooks",
        "create",
        "http://127.0.0.1:9/hook",
        "--event",
        "io.slipway.*",
        "-o",
        "json",
    )
    assert made.returncode == 0, made.stderr
    webhook = json.loads(made.stdout)
    assert webhook["secret"].startswith("whsec_") and webhook["status"] == "active"
    listed = slipway(stack, "webhooks", "list", "-o", "json")
    assert webhook["id"] in {w["id"] for w in json.loads(listed.stdout)}
    assert webhook["secret"] not in listed.stdout
    enabled = slipway(stack, "webhooks", "enable", webhook["id"], "-o", "json")
    assert enabled.returncode == 0 and json.loads(enabled.stdout)["status"] == "active"
    log = slipway(stack, "webhooks", "deliveries", webhook["id"], "-o", "json")
    assert log.returncode == 0 and isinstance(json.loads(log.stdout), list)
    assert slipway(stack, "webhooks", "delete", webhook["id"]).returncode == 0
    gone = slipway(stack, "webhooks", "get", webhook["id"])
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    refused = slipway(stack, "webhooks", "create", "http://10.1.2.3/hook")
    assert refused.returncode == 1 and "url" in refused.stderr


def test_advice_dockerfile_prints_each_finding_with_its_fix_and_the_proposal(stack):
    run = slipway(stack, "advice", "dockerfile", "hello-server")
    assert run.returncode == 0, run.stderr
    first = run.stdout.splitlines()[0]
    assert first.startswith("hello-server/Dockerfile (") and ", review: " in first
    assert "slipway.dockerignore" in run.stdout
    assert "fix: " in run.stdout
    assert "Proposed Dockerfile:" in run.stdout and "USER 65532:65532" in run.stdout
    raw = slipway(stack, "advice", "dockerfile", "hello-server", "-o", "json")
    assert raw.returncode == 0, raw.stderr
    advice = json.loads(raw.stdout)
    assert advice["mode"] == "review" and advice["findings"]


def test_advice_build_names_the_missing_file_of_a_failed_build(stack):
    name = f"cli/broken-{uuid.uuid4().hex[:6]}"
    failed = slipway(
        stack, "images", "build", "broken-build", "--name", name, "--tag", "1.0.0", "--wait"
    )
    assert failed.returncode == 1, failed.stdout
    run = slipway(stack, "advice", "build", f"{name}:1.0.0")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"image {name}:1.0.0 is failed; failing step: ")
    assert "COPY does-not-exist.txt" in lines[0]
    assert any(line.startswith("ERROR    missing_file_in_context: ") for line in lines)
    assert any(line.strip().startswith("run:  slipway images build broken-build") for line in lines)
    missing = slipway(stack, "advice", "build", "cli/no-such-image:1.0.0")
    assert missing.returncode == 1
    assert "no image named 'cli/no-such-image:1.0.0'" in missing.stderr
