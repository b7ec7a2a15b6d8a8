"""API tokens, roles and the audit log against the whole running stack: the gateway's
bootstrap admin token (`<state_dir>/admin.token`), tokens it makes, what each role may do,
and the audit log holding both the API calls and the commands sent straight over NATS."""

from __future__ import annotations

import json
import stat
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import nats
import pytest

from slipway_contracts import subjects
from tests.stack import Stack
from tests.waiting import eventually

CLUSTERS = "/api/minikube-clusters"
AUDIT = "/api/audit"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_token(stack: Stack) -> str:
    return (stack.state_dir / "admin.token").read_text().strip()


def sim_cluster() -> dict[str, Any]:
    return {
        "name": f"access-{uuid.uuid4().hex[:6]}",
        "driver": "sim",
        "cpus": 1,
        "memory": 1024,
        "disk_size": 1000,
    }


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=bearer(admin_token(stack))) as c:
        yield c


class Callers:
    """Clients with tokens of their own, made by the admin; closed at the end."""

    def __init__(self, stack: Stack, admin: httpx.Client) -> None:
        self.stack = stack
        self.admin = admin
        self.clients: list[httpx.Client] = []

    def __call__(self, role: str, **fields: Any) -> tuple[dict[str, Any], httpx.Client]:
        body = {"name": f"e2e-{role}-{uuid.uuid4().hex[:6]}", "role": role, **fields}
        response = self.admin.post("/api/tokens", json=body)
        assert response.status_code == 201, response.text
        token = response.json()
        client = httpx.Client(
            base_url=self.stack.base_url, timeout=30, headers=bearer(token["token"])
        )
        self.clients.append(client)
        return token, client


@pytest.fixture
def callers(stack: Stack, admin: httpx.Client) -> Iterator[Callers]:
    made = Callers(stack, admin)
    try:
        yield made
    finally:
        for client in made.clients:
            client.close()


def audit_entries(admin: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    response = admin.get(AUDIT, params={"limit": 500, **filters})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_the_admin_token_file_is_the_owners_alone(stack: Stack):
    path = stack.state_dir / "admin.token"

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin_token(stack).startswith("slw_")


def test_the_api_asks_for_a_token_and_health_does_not(stack: Stack):
    with httpx.Client(base_url=stack.base_url, timeout=30) as anonymous:
        refused = anonymous.get(CLUSTERS)
        health = anonymous.get("/healthz")
        ready = anonymous.get("/readyz")

    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == 'Bearer realm="slipway"'
    assert health.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["checks"]["mongodb"] == "ok"


def test_a_viewer_reads_and_is_refused_changes_naming_the_role(admin, callers):
    token, viewer = callers("viewer")

    listing = viewer.get(CLUSTERS)
    refused = viewer.post(CLUSTERS, json=sim_cluster())
    kubeconfig = viewer.get(f"{CLUSTERS}/any/kubeconfig")

    assert listing.status_code == 200
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"this needs the operator role; token '{token['name']}' has the viewer role"
    )
    assert refused.json()["required_role"] == "operator"
    assert kubeconfig.status_code == 403


def test_an_operator_manages_entities_but_not_tokens_or_the_audit_log(admin, callers):
    _, operator = callers("operator")

    created = operator.post(CLUSTERS, json=sim_cluster())
    try:
        assert created.status_code in (201, 202), created.text
        for response in (
            operator.get("/api/tokens"),
            operator.post("/api/tokens", json={"name": "x", "role": "admin"}),
            operator.get(AUDIT),
        ):
            assert response.status_code == 403
            assert response.json()["required_role"] == "admin"
    finally:
        operator.delete(f"{CLUSTERS}/{created.json()['id']}")


def test_changes_and_refusals_are_in_the_audit_log(admin, callers):
    viewer_token, viewer = callers("viewer")
    operator_token, operator = callers("operator")
    refused_id, created_id = f"e2e-{uuid.uuid4()}", f"e2e-{uuid.uuid4()}"

    viewer.post(CLUSTERS, json=sim_cluster(), headers={"X-Request-ID": refused_id})
    created = operator.post(CLUSTERS, json=sim_cluster(), headers={"X-Request-ID": created_id})
    cluster_id = created.json()["id"]
    operator.delete(f"{CLUSTERS}/{cluster_id}")

    [refusal] = audit_entries(admin, actor=viewer_token["name"])
    assert refusal["verb"] == "create"
    assert refusal["objectRef"]["resource"] == "minikube-clusters"
    assert refusal["responseStatus"]["code"] == 403
    assert refusal["correlationID"] == refused_id
    deleted, made = audit_entries(admin, actor=operator_token["id"])
    assert made["verb"] == "create" and deleted["verb"] == "delete"
    assert made["user"]["username"] == operator_token["name"]
    assert made["user"]["groups"] == ["slipway:operator"]
    assert made["objectRef"]["name"] == deleted["objectRef"]["name"] == cluster_id
    assert made["responseStatus"]["status"] == "Success"
    assert made["correlationID"] == created_id
    failures = audit_entries(admin, actor=operator_token["name"], outcome="failure")
    assert failures == []


def test_a_revoked_token_is_refused_from_the_next_call(admin, callers):
    token, operator = callers("operator")
    assert operator.get(CLUSTERS).status_code == 200

    assert admin.delete(f"/api/tokens/{token['id']}").status_code == 204

    refused = operator.get(CLUSTERS)
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers["www-authenticate"]


def test_a_scoped_operator_changes_nothing_outside_its_namespaces(admin, callers):
    _, scoped = callers("operator", scope={"namespaces": ["team-a"]})

    elsewhere = scoped.post(
        "/api/helm-charts",
        json={
            "name": "todo",
            "version": "0.1.0",
            "app_version": "1.0.0",
            "namespace": "team-b",
            "source": {"path": "todo"},
        },
    )
    no_namespace = scoped.post(CLUSTERS, json=sim_cluster())

    assert elsewhere.status_code == 403
    assert elsewhere.json()["allowed_namespaces"] == ["team-a"]
    assert no_namespace.status_code == 403
    assert scoped.get(CLUSTERS).status_code == 200


def test_the_audit_log_holds_no_token_secret(admin, callers, stack: Stack):
    made = [callers(role)[0] for role in ("viewer", "operator", "admin")]

    log = json.dumps(audit_entries(admin))

    assert all(token["token"] not in log for token in made)
    assert admin_token(stack) not in log


async def test_a_command_sent_over_nats_lands_in_the_audit_log(stack: Stack, admin):
    missing = str(uuid.uuid4())
    nc = await nats.connect(**stack.nats_options("integration"))
    try:
        reply = await nc.request(
            subjects.command(subjects.MINIKUBE_CLUSTER, "stop"),
            json.dumps({"id": missing}).encode(),
            timeout=10,
        )
    finally:
        await nc.close()
    assert json.loads(reply.data)["ok"] is False

    [entry] = await eventually(
        lambda: audit_entries(admin, name=missing), what="the NATS command in the audit log"
    )
    assert entry["verb"] == "stop"
    assert entry["objectRef"]["resource"] == subjects.MINIKUBE_CLUSTER
    assert entry["annotations"]["slipway.io/via"] == "nats"
    assert entry["user"]["username"].startswith("nats:")
    assert entry["responseStatus"] == {"status": "Failure", "reason": "not_found", "code": None}


def test_an_admin_lists_its_tokens_without_secrets(admin, callers):
    token, _ = callers("viewer", expires_in_s=3600)

    listing = admin.get("/api/tokens", params={"limit": 500}).json()["items"]

    [listed] = [t for t in listing if t["id"] == token["id"]]
    assert "token" not in listed and listed["expires_at"] == token["expires_at"]
    assert any(t["name"] == "admin" for t in listing)
