"""The advisors end to end on the whole stack (real NATS, MongoDB, Docker, a simulated
cluster): Dockerfile advice on the examples and on a deliberately poor Dockerfile whose
proposal then builds with Slipway (no network), why a build failed, and the diagnosis of
a deployment whose image was removed from the engine."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.test_workloads import build_image, deploy, deployment_body, start_cluster
from tests.registry import Registry, running_registry
from tests.stack import Stack, wait_status

pytestmark = pytest.mark.slow
SECRET = "hunter2-e2e-Secret-Value"


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as session:
        yield session


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with running_registry(tmp_path_factory.mktemp("registry")) as running:
        yield running


def advise(client: httpx.Client, context: str, dockerfile: str = "Dockerfile") -> dict[str, Any]:
    body = {"context": context, "dockerfile": dockerfile}
    response = client.post("/api/advice/dockerfile", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.mark.parametrize("example", ["hello-server", "static-site"])
def test_the_examples_get_a_review_with_no_error(client, example):
    advice = advise(client, example)
    assert advice["mode"] == "review"
    assert [f for f in advice["findings"] if f["severity"] == "error"] == []
    rules = {f["rule"] for f in advice["findings"]}
    assert "slipway.dockerignore" in rules  # the examples have none: one is proposed
    assert advice["proposed_dockerignore"]
    assert "USER 65532:65532" in advice["proposed_dockerfile"]


def a_local_base_image(stack: Stack, registry: Registry) -> str:
    """A tiny base image with a repository digest the engine knows, made offline: one file
    imported into the engine, pushed to the test registry (that gives it a RepoDigest)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        content = b"a base image made by the advice test\n"
        info = tarfile.TarInfo("etc/base-release")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    repository = f"{registry.host}/advice/base-{uuid.uuid4().hex[:6]}"
    engine = stack.engine()
    engine.api.import_image_from_data(data.getvalue(), repository=repository, tag="latest")
    for chunk in engine.api.push(repository, tag="latest", stream=True, decode=True):
        assert "error" not in chunk, chunk
    return repository


def test_a_poor_dockerfile_names_each_problem_and_its_proposal_builds(client, stack, registry):
    base = a_local_base_image(stack, registry)
    context = stack.build_root / f"poor-{uuid.uuid4().hex[:6]}"
    context.mkdir(parents=True)
    (context / "run").write_text("#!/bin/sh\necho hello\n")
    (context / "Dockerfile").write_text(
        f'FROM {base}:latest\nENV APP_MODE=prod API_TOKEN={SECRET}\nCOPY . /app\nCMD ["/app/run"]\n'
    )
    advice = advise(client, context.name)
    by_rule = {f["rule"]: f for f in advice["findings"]}
    assert by_rule["slipway.non-root-user"]["severity"] == "error"
    assert by_rule["slipway.secret-in-env"]["line"] == 2
    assert "API_TOKEN" in by_rule["slipway.secret-in-env"]["message"]
    assert by_rule["slipway.pinned-base"]["fixed_in_proposal"] is True
    assert "slipway.dockerignore" in by_rule
    assert any(rule.startswith("hadolint.") for rule in by_rule)  # DL3007: latest
    assert SECRET not in str(advice)

    proposed = advice["proposed_dockerfile"]
    assert proposed.startswith(f"FROM {base}@sha256:")
    (context / "Dockerfile.proposed").write_text(proposed)
    (context / ".dockerignore").write_text(advice["proposed_dockerignore"])
    body = {
        "name": f"e2e/proposed-{uuid.uuid4().hex[:6]}",
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": context.name, "dockerfile": "Dockerfile.proposed"},
    }
    response = client.post("/api/container-images", json=body)
    assert response.status_code == 202, response.text
    built = wait_status(client, response.headers["Location"], {"built", "failed"}, 300)
    assert built["status"] == "built", built["reason"]
    assert built["user"] == "65532:65532"
    config = stack.engine().api.inspect_image(f"{body['name']}:1.0.0")["Config"]
    assert not any("API_TOKEN" in variable for variable in config.get("Env") or [])

    again = advise(client, context.name, "Dockerfile.proposed")
    assert [
        f
        for f in again["findings"]
        if f["rule"].startswith("slipway.") and f["severity"] == "error"
    ] == []


def test_a_context_with_no_dockerfile_gets_one_for_its_project(client, stack):
    context = stack.build_root / f"site-{uuid.uuid4().hex[:6]}"
    context.mkdir(parents=True)
    (context / "index.html").write_text("<h1>hi</h1>\n")
    advice = advise(client, context.name)
    assert (advice["mode"], advice["project_kind"]) == ("generate", "static")
    assert "USER 101" in advice["proposed_dockerfile"]


def test_a_context_outside_the_build_roots_is_422(client):
    response = client.post("/api/advice/dockerfile", json={"context": "/etc"})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["context"]


def test_a_failed_build_is_explained_with_the_missing_file(client):
    body = {
        "name": f"e2e/broken-{uuid.uuid4().hex[:6]}",
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": "broken-build"},
    }
    response = client.post("/api/container-images", json=body)
    assert response.status_code == 202, response.text
    failed = wait_status(client, response.headers["Location"], {"built", "failed"}, 300)
    assert failed["status"] == "failed"
    advice = client.get(f"/api/advice/container-images/{failed['id']}")
    assert advice.status_code == 200, advice.text
    answer = advice.json()
    assert "COPY does-not-exist.txt" in answer["failing_step"]
    [diagnosis] = answer["diagnoses"]
    assert diagnosis["cause"] == "missing_file_in_context"
    assert "does-not-exist.txt" in diagnosis["summary"]
    assert diagnosis["suggested_command"].startswith("slipway images build broken-build")


def test_a_deployment_whose_image_was_removed_is_diagnosed_and_the_cluster_health_shows_it(
    client, stack
):
    cluster = start_cluster(client, f"advice-{uuid.uuid4().hex[:6]}")
    good = build_image(client, f"e2e/fine-{uuid.uuid4().hex[:8]}")
    _, healthy_location = deploy(client, deployment_body(cluster, good, replicas=1))
    healthy = wait_status(client, healthy_location, {"running", "failed"}, 60)
    assert healthy["status"] == "running", healthy["reason"]
    diagnosis = client.get(f"/api/advice/deployments/{healthy['id']}").json()
    assert (diagnosis["healthy"], diagnosis["diagnoses"]) == (True, [])

    doomed = build_image(client, f"e2e/doomed-{uuid.uuid4().hex[:8]}")
    stack.engine().images.remove(f"{doomed['name']}:1.0.0", force=True)
    _, location = deploy(client, deployment_body(cluster, doomed, replicas=1))
    failed = wait_status(client, location, {"running", "failed"}, 60)
    assert failed["status"] == "failed"
    response = client.get(f"/api/advice/deployments/{failed['id']}")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["healthy"] is False
    first = answer["diagnoses"][0]
    assert first["cause"] == "image_load_failed"
    assert f"{doomed['name']}:1.0.0" in first["summary"]
    assert "rebuild the image" in first["fix"]
    assert first["suggested_command"].startswith(
        f"slipway images build <context> --name {doomed['name']}"
    )

    resources = client.get(f"/api/advice/deployments/{healthy['id']}/resources")
    assert resources.status_code == 200, resources.text
    assert resources.json()["reasoning"]

    health = client.get(f"/api/advice/minikube-clusters/{cluster['id']}/health").json()
    assert health["healthy"] is False and health["deployments"]["total"] == 2
    assert health["problems"][0]["id"] == failed["id"]
    assert client.get("/api/advice/deployments/nosuch").status_code == 404
