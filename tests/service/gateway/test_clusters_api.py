"""`/api/minikube-clusters` through the real gateway, with a stub cluster-manager on NATS."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from slipway_contracts.entities import MinikubeCluster
from slipway_libs.logging import JsonFormatter
from tests.service.gateway.conftest import RETRY_AFTER_S, StubService, assert_problem

CLUSTERS = "/api/minikube-clusters"
SIM = {"name": "local", "driver": "sim", "cpus": 2, "memory": 2048}
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: local
  user: {token: secret-token}
contexts:
- name: local
  context: {cluster: local, user: local}
current-context: local
"""


def registered(payload: dict[str, Any]) -> dict[str, Any]:
    """The cluster-manager's answer to a create: a stopped cluster, starting when asked."""
    # The entity never carries the inline kubeconfig (it is sealed apart).
    fields = {k: v for k, v in payload.items() if k not in ("start", "kubeconfig_data")}
    if payload["start"]:
        started = datetime.now(UTC)
        fields["operation"] = {
            "id": "op-1",
            "action": "start",
            "started_at": started.isoformat(),
            "deadline": (started + timedelta(minutes=10)).isoformat(),
        }
    return {**fields, "status": "stopped"}


def cluster_manager() -> StubService:
    return StubService(
        "minikube_cluster",
        registered,
        transitions={
            "start": ({"stopped", "error"}, "running"),
            "stop": ({"running", "error"}, "stopped"),
            "restart": ({"running", "error", "stopped"}, "running"),
        },
    )


@pytest_asyncio.fixture(loop_scope="session")
async def manager(serve) -> StubService:
    return await serve(cluster_manager())


async def test_registering_a_cluster_answers_201_with_the_entity_location_and_etag(
    gateway, manager
):
    response = await gateway.post(CLUSTERS, json=SIM)

    assert response.status_code == 201
    cluster = MinikubeCluster.model_validate(response.json())
    assert cluster.status == "stopped" and cluster.operation is None
    assert response.headers["location"] == f"{CLUSTERS}/{cluster.id}"
    assert response.headers["etag"] == '"1"'
    [sent] = manager.commands("create")
    assert sent.payload["start"] is False
    assert sent.payload["memory"] == 2048 and sent.payload["driver"] == "sim"


class AccessLines(logging.Handler):
    """The gateway's access lines, as the JSON its logs hold (formatted as they are made)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("gateway"))
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_each_call_is_logged_once_with_its_status_time_and_correlation_id(gateway, manager):
    lines, access = AccessLines(), logging.getLogger("slipway_gateway.access")
    access.addHandler(lines)
    try:
        registered = await gateway.post(CLUSTERS, json=SIM, headers={"X-Request-ID": "req-a1"})
        missing = await gateway.get(f"{CLUSTERS}/nope?x=1", headers={"X-Request-ID": "req-a2"})
    finally:
        access.removeHandler(lines)

    assert (registered.status_code, missing.status_code) == (201, 404)
    [create] = [line for line in lines.lines if line.get("correlationid") == "req-a1"]
    [read] = [line for line in lines.lines if line.get("correlationid") == "req-a2"]
    assert re.fullmatch(
        r'127\.0\.0\.1:\d+ - "POST /api/minikube-clusters HTTP/1\.1" 201 \d+\.\d ms',
        create["message"],
    )
    assert f'"GET {CLUSTERS}/nope?x=1 HTTP/1.1" 404 ' in read["message"]
    assert create["level"] == "info" and create["service"] == "gateway"


async def test_registering_and_starting_answers_202_accepted(gateway, manager):
    response = await gateway.post(CLUSTERS, json={**SIM, "start": True})

    assert response.status_code == 202
    body = response.json()
    assert body["operation"]["action"] == "start"
    assert response.headers["location"] == f"{CLUSTERS}/{body['id']}"
    assert response.headers["etag"] == '"1"'


async def test_the_idempotency_key_becomes_the_command_id(gateway, manager):
    await gateway.post(CLUSTERS, json=SIM, headers={"Idempotency-Key": "k-42"})
    await gateway.post(CLUSTERS, json={**SIM, "name": "other"})
    await gateway.post(CLUSTERS, json={**SIM, "name": "third"})

    ids = [r.command_id for r in manager.commands("create")]
    assert ids[0] == "idem:k-42"
    # Without a key each POST is its own command.
    assert ids[1] and ids[2] and len(set(ids)) == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cpus": 0}, "cpus"),
        ({"memory": -1}, "memory"),
        ({"name": "Not_A_Profile"}, "name"),
        ({"driver": "kind"}, "driver"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_a_bad_cluster_body_is_422_naming_the_field_and_reaches_no_service(
    gateway, manager, change, field
):
    response = await gateway.post(CLUSTERS, json={**SIM, **change})

    assert_problem(response, 422, {field})
    assert manager.received == []


async def test_a_service_side_validation_error_keeps_its_fields(gateway, serve):
    def too_big(payload: dict[str, Any]) -> Any:
        from slipway_libs.errors import InvalidInput

        raise InvalidInput.field("cpus", "512 CPUs asked; this host has 8")

    stub = cluster_manager()
    stub.answers["slipway.minikube_cluster.cmd.create"] = too_big
    await serve(stub)

    problem = assert_problem(await gateway.post(CLUSTERS, json={**SIM, "cpus": 512}), 422, {"cpus"})
    assert "this host has 8" in problem["errors"][0]["message"]


async def test_get_answers_the_cluster_with_its_etag_and_404_for_an_unknown_id(gateway, manager):
    created = (await gateway.post(CLUSTERS, json=SIM)).json()

    response = await gateway.get(f"{CLUSTERS}/{created['id']}")
    assert response.status_code == 200
    assert response.json()["name"] == "local"
    assert response.headers["etag"] == '"1"'

    problem = assert_problem(await gateway.get(f"{CLUSTERS}/nope"), 404)
    assert "nope" in problem["detail"]


async def test_list_filters_by_status_and_passes_the_cursor(gateway, manager):
    await gateway.post(CLUSTERS, json=SIM)
    running = (await gateway.post(CLUSTERS, json={**SIM, "name": "second"})).json()
    await gateway.post(f"{CLUSTERS}/{running['id']}/start")

    response = await gateway.get(CLUSTERS, params={"status": "running", "cursor": "c1"})

    assert response.status_code == 200
    page = response.json()
    assert [c["name"] for c in page["items"]] == ["second"]
    assert page["next_cursor"] is None
    [query] = [r for r in manager.received if r.subject.endswith("query.list")]
    assert query.payload == {"status": "running", "cursor": "c1", "limit": 50}
    assert_problem(await gateway.get(CLUSTERS, params={"status": "paused"}), 422, {"query.status"})
    assert_problem(await gateway.get(CLUSTERS, params={"limit": 0}), 422, {"query.limit"})


@pytest.mark.parametrize(
    ("action", "start_status", "end_status"),
    [
        ("start", "stopped", "running"),
        ("stop", "running", "stopped"),
        ("restart", "running", "running"),
    ],
)
async def test_actions_answer_202_with_the_entity_location_and_new_etag(
    gateway, manager, action, start_status, end_status
):
    cluster = manager.add({**registered({**SIM, "start": False}), "status": start_status})

    response = await gateway.post(
        f"{CLUSTERS}/{cluster['id']}/{action}",
        headers={"If-Match": '"1"', "Idempotency-Key": f"{action}-1"},
    )

    assert response.status_code == 202
    assert response.json()["status"] == end_status
    assert response.headers["location"] == f"{CLUSTERS}/{cluster['id']}"
    assert response.headers["etag"] == '"2"'
    [sent] = manager.commands(action)
    assert sent.payload == {"id": cluster["id"], "expected_revision": 1}
    assert sent.command_id == f"idem:{action}-1"


async def test_a_stale_if_match_is_412_from_the_service(gateway, manager):
    cluster = manager.add(registered({**SIM, "start": False}))

    problem = assert_problem(
        await gateway.post(f"{CLUSTERS}/{cluster['id']}/start", headers={"If-Match": 'W/"7"'}),
        412,
    )

    assert problem["current_revision"] == 1
    assert manager.commands("start")[0].payload["expected_revision"] == 7
    assert manager.entities[cluster["id"]]["status"] == "stopped"


async def test_an_if_match_that_is_no_etag_is_412_without_asking_the_service(gateway, manager):
    cluster = manager.add(registered({**SIM, "start": False}))

    assert_problem(
        await gateway.post(f"{CLUSTERS}/{cluster['id']}/start", headers={"If-Match": "yesterday"}),
        412,
    )
    assert manager.commands("start") == []


async def test_starting_a_running_cluster_is_409_naming_its_status(gateway, manager):
    cluster = manager.add({**registered({**SIM, "start": False}), "status": "running"})

    problem = assert_problem(await gateway.post(f"{CLUSTERS}/{cluster['id']}/start"), 409)

    assert problem["current_status"] == "running"
    assert "running" in problem["detail"]


async def test_delete_answers_202_with_the_cluster_and_honours_if_match(gateway, manager):
    cluster = manager.add(registered({**SIM, "start": False}))
    path = f"{CLUSTERS}/{cluster['id']}"

    assert_problem(await gateway.delete(path, headers={"If-Match": '"3"'}), 412)
    response = await gateway.delete(path, headers={"If-Match": '"1"'})

    # The removal runs on (a job); the answer is the cluster as the command left it.
    assert response.status_code == 202
    assert response.json()["id"] == cluster["id"]
    assert response.headers["Location"] == path
    assert [c.payload["expected_revision"] for c in manager.commands("delete")][-1] == 1


async def test_the_kubeconfig_is_yaml_that_kubectl_reads(gateway, manager, tmp_path: Path):
    manager.answers["slipway.minikube_cluster.query.kubeconfig"] = lambda payload: {
        "kubeconfig": KUBECONFIG
    }
    cluster = manager.add({**registered({**SIM, "start": False}), "status": "running"})

    response = await gateway.get(f"{CLUSTERS}/{cluster['id']}/kubeconfig")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/yaml"
    assert response.headers["cache-control"] == "no-store"
    assert response.text == KUBECONFIG
    assert yaml.safe_load(response.text)["current-context"] == "local"
    assert manager.received[-1].payload == {"id": cluster["id"]}
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the YAML checks above still ran")
    saved = tmp_path / "kc"
    saved.write_bytes(response.content)
    context = subprocess.run(
        [kubectl, "--kubeconfig", str(saved), "config", "current-context"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert context.stdout.strip() == "local"


async def test_the_kubeconfig_of_a_stopped_cluster_is_the_services_409(gateway, manager):
    from slipway_libs.errors import Conflict

    def stopped(payload: dict[str, Any]) -> Any:
        raise Conflict(
            "cluster 'local' is not running (current status: stopped)",
            {"current_status": "stopped"},
        )

    manager.answers["slipway.minikube_cluster.query.kubeconfig"] = stopped

    problem = assert_problem(await gateway.get(f"{CLUSTERS}/any/kubeconfig"), 409)
    assert problem["current_status"] == "stopped"


async def test_no_cluster_manager_is_503_with_retry_after(gateway):
    response = await gateway.post(CLUSTERS, json=SIM)

    problem = assert_problem(response, 503)
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert "minikube_cluster" in problem["detail"]
    assert_problem(await gateway.get(f"{CLUSTERS}/x/kubeconfig"), 503)
