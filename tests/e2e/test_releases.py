"""Releases end to end (issue 16's acceptance): REST in, real image builds, the todo chart
validated by the chart-validator, a simulated cluster started by the cluster-manager, the
real helm CLI run by the workload-manager, and helm itself asked what it did."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_workloads import apps, start_cluster
from tests.stack import ROOT, Stack, wait_status

pytestmark = pytest.mark.slow
PROBLEM = "application/problem+json"
TODO_CHART = ROOT / "examples" / "charts" / "todo"
BAD_CHART = ROOT / "tests" / "fixtures" / "charts" / "bad-policy"
HELM = Path(sys.executable).parent / "helm"


def packed(chart: Path) -> str:
    """A chart directory as the base64 `.tgz` a chart upload takes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(chart, arcname=chart.name)
    return base64.b64encode(buffer.getvalue()).decode()


def build(client: httpx.Client, name: str, tag: str, application: str, context: str) -> Any:
    body = {"name": name, "tag": tag, "application": application, "build": {"context": context}}
    response = client.post("/api/container-images", json=body)
    assert response.status_code == 202, response.text
    return wait_status(client, response.headers["Location"], {"built", "failed"}, 300)


def register_chart(client: httpx.Client, chart: Path) -> Any:
    """Upload a chart (its name is its directory's, in a namespace of its own)."""
    body = {
        "name": chart.name,
        "version": "0.1.0",
        "app_version": "1.0.0",
        "namespace": f"charts-{uuid.uuid4().hex[:6]}",
        "source": {"archive": packed(chart)},
    }
    response = client.post("/api/helm-charts", json=body)
    assert response.status_code == 202, response.text
    return wait_status(client, response.headers["Location"], {"valid", "invalid"}, 120)


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as session:
        yield session


@pytest.fixture(scope="module")
def images(client: httpx.Client) -> dict[str, Any]:
    """The tour's images: the frontend, the backend and the backend's next version."""
    wanted = {
        "frontend": ("todo/frontend", "1.0.0", "frontend", "static-site"),
        "backend": ("todo/backend", "1.0.0", "backend", "hello-server"),
        "backend-1.1": ("todo/backend", "1.1.0", "backend", "hello-server"),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {key: pool.submit(build, client, *args) for key, args in wanted.items()}
        built = {key: future.result() for key, future in futures.items()}
    for image in built.values():
        assert image["status"] == "built", image["reason"]
    return built


@pytest.fixture(scope="module")
def chart(client: httpx.Client) -> Any:
    valid = register_chart(client, TODO_CHART)
    assert valid["status"] == "valid", valid["findings"]
    return valid


@pytest.fixture(scope="module")
def cluster(client: httpx.Client) -> Any:
    return start_cluster(client, f"local-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def kubeconfig(
    client: httpx.Client, cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    response = client.get(f"/api/minikube-clusters/{cluster['id']}/kubeconfig")
    assert response.status_code == 200, response.text
    path = tmp_path_factory.mktemp("kube") / "config"
    path.write_text(response.text)
    path.chmod(0o600)
    return path


def release_body(cluster: Any, chart: Any, images: dict[str, Any], **overrides: Any) -> Any:
    return {
        "name": "todo",
        "namespace": f"todo-{uuid.uuid4().hex[:6]}",
        "cluster_id": cluster["id"],
        "chart_id": chart["id"],
        "images": {
            "frontend.image": images["frontend"]["id"],
            "backend.image": images["backend"]["id"],
        },
        "timeout_seconds": 60,
        **overrides,
    }


def helm(kubeconfig: Path, namespace: str, *args: str) -> str:
    """helm as a user runs it, with the cluster's kubeconfig from the API."""
    done = subprocess.run(
        [str(HELM), *args, "--namespace", namespace, "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"HOME": str(kubeconfig.parent), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def live_image(kubeconfig: Path, namespace: str, name: str) -> str:
    live = apps(kubeconfig).read_namespaced_deployment(name, namespace)
    return str(live.spec.template.spec.containers[0].image)


def owned(client: httpx.Client, path: str, release_id: str) -> dict[str, Any]:
    """The release's entities among `path`'s, by name."""
    found: dict[str, Any] = {}
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = client.get(path, params=params).json()
        found |= {i["name"]: i for i in page["items"] if i.get("release_id") == release_id}
        cursor = page["next_cursor"]
        if not cursor:
            return found


def reference(image: Any) -> str:
    return f"{image['name']}:{image['tag']}"


def test_install_upgrade_preview_rollback_and_uninstall_the_todo_chart(
    client, images, chart, cluster, kubeconfig, record_property
):
    body = release_body(cluster, chart, images)
    namespace = body["namespace"]
    started = time.monotonic()
    response = client.post("/api/releases", json=body)
    assert response.status_code == 202, response.text
    created, location = response.json(), response.headers["Location"]
    assert created["status"] == "pending"
    release = wait_status(client, location, {"deployed", "failed"}, 120)
    assert (release["status"], release["helm_revision"]) == ("deployed", 1), release["reason"]
    record_property("release_install_to_deployed_s", round(time.monotonic() - started, 2))

    deployments = owned(client, "/api/deployments", created["id"])
    assert {n: d["status"] for n, d in deployments.items()} == {
        "todo-frontend": "running",
        "todo-backend": "running",
    }
    assert {d["chart_id"] for d in deployments.values()} == {chart["id"]}
    assert deployments["todo-backend"]["image_id"] == images["backend"]["id"]
    services = owned(client, "/api/services", created["id"])
    assert {n: s["status"] for n, s in services.items()} == {
        "todo-frontend": "active",
        "todo-backend": "active",
    }
    assert "STATUS: deployed" in helm(kubeconfig, namespace, "status", "todo")

    scaled = client.post(f"/api/deployments/{deployments['todo-backend']['id']}/scale",
                         json={"replicas": 5})  # fmt: skip
    assert scaled.status_code == 409
    assert f"upgrade the release instead (PUT /api/releases/{created['id']})" in scaled.text

    newer = {**body["images"], "backend.image": images["backend-1.1"]["id"]}
    preview = client.put(f"{location}?dry_run=true", json={**body, "images": newer})
    assert preview.status_code == 200, preview.text
    assert preview.json()["changes"] == ["Deployment/todo-backend: changed"]
    assert reference(images["backend-1.1"]) in preview.json()["diff"]
    assert client.get(location).json()["revision"] == release["revision"]
    assert len(json.loads(helm(kubeconfig, namespace, "history", "todo", "-o", "json"))) == 1
    assert live_image(kubeconfig, namespace, "todo-backend") == reference(images["backend"])

    upgraded = client.put(location, json={**body, "images": newer})
    assert upgraded.status_code == 202, upgraded.text
    assert upgraded.json()["status"] == "updating"
    release = wait_status(client, location, {"deployed", "failed"}, 120)
    assert (release["status"], release["helm_revision"]) == ("deployed", 2), release["reason"]
    assert live_image(kubeconfig, namespace, "todo-backend") == reference(images["backend-1.1"])

    rolled = client.post(f"{location}/rollback", json={"revision": 1})
    assert rolled.status_code == 202, rolled.text
    assert rolled.json()["status"] == "updating"
    release = wait_status(client, location, {"deployed", "failed"}, 120)
    assert (release["status"], release["helm_revision"]) == ("deployed", 3), release["reason"]
    assert live_image(kubeconfig, namespace, "todo-backend") == reference(images["backend"])

    history = client.get(f"{location}/history").json()
    assert [(h["revision"], h["status"]) for h in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    assert history[1]["images"]["backend.image"] == images["backend-1.1"]["id"]
    manifest = client.get(f"{location}/manifest")
    assert manifest.status_code == 200 and "name: todo-backend" in manifest.text

    deleted = client.delete(location)
    assert deleted.status_code == 202, deleted.text
    release = wait_status(client, location, {"uninstalled", "failed"}, 60)
    assert release["status"] == "uninstalled", release["reason"]
    assert owned(client, "/api/deployments", created["id"]) == {}
    assert owned(client, "/api/services", created["id"]) == {}
    assert apps(kubeconfig).list_namespaced_deployment(namespace).items == []
    assert client.delete(location).status_code == 202
    assert client.get(location).status_code == 404


def test_an_invalid_chart_is_409_naming_its_status_and_an_unbuilt_image_422_its_path(
    client, images, chart, cluster
):
    invalid = register_chart(client, BAD_CHART)
    assert invalid["status"] == "invalid"
    refused = client.post("/api/releases", json=release_body(cluster, invalid, images, name="bad"))
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert "invalid" in refused.json()["detail"]

    broken = build(client, f"todo/broken-{uuid.uuid4().hex[:6]}", "1.0.0", "backend",
                   "broken-build")  # fmt: skip
    assert broken["status"] == "failed"
    body = release_body(cluster, chart, images, name="unbuilt")
    body["images"]["backend.image"] = broken["id"]
    refused = client.post("/api/releases", json=body)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["images.backend.image"]


def test_a_backend_image_removed_from_the_engine_fails_the_release_with_the_load_reason(
    client, images, chart, cluster, stack
):
    doomed = build(client, "todo/backend", f"0.{uuid.uuid4().int % 1000}.1", "backend",
                   "hello-server")  # fmt: skip
    assert doomed["status"] == "built", doomed["reason"]
    stack.engine().images.remove(reference(doomed), force=True)
    body = release_body(cluster, chart, images, name="gone", timeout_seconds=20)
    body["images"]["backend.image"] = doomed["id"]
    response = client.post("/api/releases", json=body)
    assert response.status_code == 202, response.text
    failed = wait_status(client, response.headers["Location"], {"deployed", "failed"}, 20 + 60)
    assert failed["status"] == "failed"
    # Either the load finds the image gone, or the image-builder's periodic verification has
    # failed the image first and the release refuses it: both name the missing image.
    assert reference(doomed) in failed["reason"], failed["reason"]
    assert (
        failed["reason"].startswith("image load failed")
        and "is not in the local Docker Engine" in failed["reason"]
    ) or "no longer exists in the Docker Engine" in failed["reason"], failed["reason"]
