"""API tokens and roles through the real gateway (authentication on, a real MongoDB): who
may call what, the 401 and 403 answers, the tokens' life (made, listed, used, expired,
revoked), namespace scopes, the bootstrap admin token, and `/metrics` access."""

from __future__ import annotations

import hashlib
import json
import stat
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import slipway_devstack as devstack
from pymongo import AsyncMongoClient

from slipway_contracts.access import Role, Token, TokenScope
from slipway_gateway.access.identity import digest, mint_secret
from slipway_gateway.access.rules import is_loopback, metrics_role
from slipway_gateway.adapters.token_store import as_stored, document
from slipway_gateway.app import create_app
from slipway_gateway.settings import GatewaySettings
from tests.service.gateway.conftest import (
    RETRY_AFTER_S,
    RunningGateway,
    StubService,
    assert_problem,
    serving,
)
from tests.waiting import eventually

DEPLOYMENTS = "/api/deployments"
WEB = {"name": "web", "cluster_id": "c1", "image": "todo/web:1.0.0", "container_port": 8080}
CHALLENGE = 'Bearer realm="slipway"'
INVALID_TOKEN = 'Bearer realm="slipway", error="invalid_token"'
# How soon a token changed in MongoDB (on another replica) holds on a gateway that knew it.
REPLICA_DELAY_S = 0.5


def pending(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "status": "pending"}


def running(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "status": "running"}


@pytest_asyncio.fixture(loop_scope="session")
async def workloads(serve) -> StubService:
    scaling = {"scale": ({"running"}, "updating"), "update": ({"running"}, "updating")}
    return await serve(StubService("deployment", pending, transitions=scaling))


@pytest_asyncio.fixture(loop_scope="session")
async def stubs(serve, workloads) -> dict[str, StubService]:
    """A stub of every owning service; the kubeconfig, logs and manifest answered."""
    clusters = await serve(
        StubService(
            "minikube_cluster",
            lambda p: {**p, "status": "stopped"},
            transitions={"start": ({"stopped"}, "running")},
            answers={"slipway.minikube_cluster.query.kubeconfig": lambda p: {"kubeconfig": "k"}},
        )
    )
    images = await serve(
        StubService(
            "container_image",
            lambda p: {**p, "status": "building"},
            answers={"slipway.container_image.query.logs": lambda p: {"lines": ["step 1"]}},
        )
    )
    releases = await serve(
        StubService(
            "release",
            pending,
            transitions={"rollback": ({"deployed"}, "updating")},
            answers={"slipway.release.query.manifest": lambda p: {"manifest": "kind: Secret"}},
        )
    )
    return {
        "deployment": workloads,
        "minikube_cluster": clusters,
        "container_image": images,
        "release": releases,
    }


def mongo(gateway: RunningGateway) -> Any:
    """The gateway's own database, read directly."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        gateway.settings.mongodb_uri, tz_aware=True
    )
    return client, client[gateway.settings.database]


# --- 401 ----------------------------------------------------------------------------------


async def test_an_api_call_without_a_token_is_401_with_a_bearer_challenge(shared_gateway):
    async with shared_gateway.client_as(None) as anonymous:
        response = await anonymous.get(DEPLOYMENTS)

    problem = assert_problem(response, 401)
    assert problem["code"] == "unauthorized"
    assert "Authorization: Bearer" in problem["detail"]
    assert response.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize(
    "authorization",
    ["Bearer slw_not-a-token-of-this-api", "Bearer", "Bearer two words", "bearer slw_x"],
)
async def test_a_bad_bearer_token_is_401_invalid_token(shared_gateway, authorization):
    response = await shared_gateway.client.get(
        DEPLOYMENTS, headers={"Authorization": authorization}
    )

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == INVALID_TOKEN


async def test_another_scheme_is_401_asking_for_a_bearer_token(shared_gateway):
    response = await shared_gateway.client.get(
        DEPLOYMENTS, headers={"Authorization": "Basic YWRtaW46YWRtaW4="}
    )

    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == CHALLENGE


async def test_an_unknown_api_path_is_401_too_not_404(shared_gateway):
    async with shared_gateway.client_as(None) as anonymous:
        response = await anonymous.get("/api/no-such-thing")

    assert_problem(response, 401)


async def test_a_refused_call_sends_nothing_to_the_service(shared_gateway, workloads):
    async with shared_gateway.client_as(None) as anonymous:
        response = await anonymous.post(DEPLOYMENTS, json=WEB)

    assert_problem(response, 401)
    assert workloads.received == []


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs"])
async def test_health_and_the_api_document_need_no_token(shared_gateway, path):
    async with shared_gateway.client_as(None) as anonymous:
        response = await anonymous.get(path)

    assert response.status_code == 200


async def test_readiness_needs_no_token(shared_gateway):
    async with shared_gateway.client_as(None) as anonymous:
        response = await anonymous.get("/readyz")

    # Not ready (no service answers its health here), but never a 401.
    assert response.status_code == 503
    assert "mongodb" not in response.json()["detail"]


# --- roles --------------------------------------------------------------------------------


async def test_a_viewer_reads_entities(callers, workloads):
    viewer = await callers("viewer")
    workloads.add(running(WEB))

    response = await viewer.client.get(DEPLOYMENTS)

    assert response.status_code == 200
    assert [d["name"] for d in response.json()["items"]] == ["web"]


VIEWER_REFUSED = [
    ("POST", DEPLOYMENTS, WEB),
    ("PUT", f"{DEPLOYMENTS}/d1", WEB),
    ("DELETE", f"{DEPLOYMENTS}/d1", None),
    ("POST", f"{DEPLOYMENTS}/d1/scale", {"replicas": 2}),
    ("POST", "/api/minikube-clusters/c1/start", None),
    ("POST", "/api/releases/r1/rollback", {"revision": 1}),
    ("POST", "/api/container-images", {}),
    ("GET", "/api/minikube-clusters/c1/kubeconfig", None),
    ("GET", "/api/container-images/i1/logs", None),
    ("GET", "/api/releases/r1/manifest", None),
]


@pytest.mark.parametrize(("method", "path", "body"), VIEWER_REFUSED)
async def test_a_viewer_may_not_change_or_reveal_anything(callers, stubs, method, path, body):
    viewer = await callers("viewer", name="ci")

    response = await viewer.client.request(method, path, json=body)

    problem = assert_problem(response, 403)
    assert problem["detail"] == "this needs the operator role; token 'ci' has the viewer role"
    assert problem["required_role"] == "operator"
    assert problem["code"] == "forbidden"
    assert all(stub.received == [] for stub in stubs.values())


async def test_a_viewer_refused_with_a_body_that_is_not_json_is_still_403(callers):
    viewer = await callers("viewer")

    response = await viewer.client.post(
        DEPLOYMENTS, content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert_problem(response, 403)


async def test_an_operator_changes_entities_and_reads_kubeconfigs_and_logs(callers, stubs):
    operator = await callers("operator")

    created = await operator.client.post(DEPLOYMENTS, json=WEB)
    kubeconfig = await operator.client.get("/api/minikube-clusters/c1/kubeconfig")
    logs = await operator.client.get("/api/container-images/i1/logs")

    assert created.status_code == 202, created.text
    assert kubeconfig.status_code == 200 and kubeconfig.text == "k"
    assert logs.status_code == 200 and logs.text == "step 1\n"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/tokens"),
        ("POST", "/api/tokens"),
        ("GET", "/api/tokens/t1"),
        ("DELETE", "/api/tokens/t1"),
        ("GET", "/api/audit"),
    ],
)
async def test_an_operator_may_not_reach_tokens_or_the_audit_log(callers, method, path):
    operator = await callers("operator", name="deployer")

    response = await operator.client.request(
        method, path, json={"name": "x", "role": "admin"} if method == "POST" else None
    )

    problem = assert_problem(response, 403)
    assert problem["detail"] == "this needs the admin role; token 'deployer' has the operator role"
    assert problem["required_role"] == "admin"


# --- tokens -------------------------------------------------------------------------------


async def test_a_token_is_made_once_with_its_secret_and_listed_without_it(shared_gateway, callers):
    admin = shared_gateway.client

    response = await admin.post("/api/tokens", json={"name": "ci", "role": "viewer"})

    assert response.status_code == 201
    made = response.json()
    secret = made["token"]
    assert secret.startswith("slw_") and len(secret) == 4 + 43
    assert made["role"] == "viewer" and made["name"] == "ci"
    assert made["created_by"] == "admin"
    assert made["scope"] == {"namespaces": None}
    assert response.headers["location"] == f"/api/tokens/{made['id']}"
    assert response.headers["cache-control"] == "no-store"

    read = await admin.get(f"/api/tokens/{made['id']}")
    assert read.status_code == 200
    assert read.json() == {k: v for k, v in made.items() if k != "token"}
    listing = await all_tokens(admin)
    assert made["id"] in {t["id"] for t in listing}
    assert secret not in read.text and all("token" not in t for t in listing)


async def all_tokens(admin: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await admin.get("/api/tokens", params={"limit": 2, "cursor": cursor})).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_tokens_are_listed_page_by_page_oldest_first(shared_gateway, callers):
    made = [(await callers("viewer")).id for _ in range(3)]

    listing = [t["id"] for t in await all_tokens(shared_gateway.client)]

    assert [i for i in listing if i in made] == made
    assert len(listing) == len(set(listing))


async def test_only_the_hash_of_a_secret_is_kept(shared_gateway, callers):
    caller = await callers("operator")
    secret = caller.token["token"]
    client, db = mongo(shared_gateway)
    try:
        row = await db.tokens.find_one({"_id": caller.id})
        rows = await db.tokens.find().to_list()
    finally:
        await client.close()

    assert row["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in repr(r) for r in rows)
    assert {k for k in row} >= {"name", "role", "scope", "created_at", "expires_at"} | {
        "last_used_at",
        "created_by",
        "revoked_at",
    }


async def test_a_token_notes_when_it_was_last_used(shared_gateway, callers):
    viewer = await callers("viewer")
    assert viewer.token["last_used_at"] is None

    await viewer.client.get("/api/container-images")

    token = (await shared_gateway.client.get(f"/api/tokens/{viewer.id}")).json()
    used = datetime.fromisoformat(token["last_used_at"])
    assert datetime.now(UTC) - used < timedelta(minutes=1)


async def test_a_revoked_token_is_refused_from_the_next_call_on(shared_gateway, callers):
    operator = await callers("operator")
    assert (await operator.client.get(DEPLOYMENTS)).status_code != 401

    revoked = await shared_gateway.client.delete(f"/api/tokens/{operator.id}")

    assert revoked.status_code == 204
    response = await operator.client.get(DEPLOYMENTS)
    problem = assert_problem(response, 401)
    assert "revoked" in problem["detail"]
    assert response.headers["www-authenticate"] == INVALID_TOKEN
    assert operator.id not in {t["id"] for t in await all_tokens(shared_gateway.client)}
    assert_problem(await shared_gateway.client.get(f"/api/tokens/{operator.id}"), 404)
    # Revoking again changes nothing; an unknown token is a 404.
    assert (await shared_gateway.client.delete(f"/api/tokens/{operator.id}")).status_code == 204
    assert_problem(await shared_gateway.client.delete("/api/tokens/no-such-token"), 404)


async def test_a_revocation_holds_within_a_moment_on_every_replica(shared_gateway, callers):
    operator = await callers("operator")

    # A second gateway on the same database, as a replica would be; it has used the token
    # (so knows it) before the first gateway revokes it.
    async with (
        serving(shared_gateway.settings) as replica,
        replica.client_as(operator.token["token"]) as c,
    ):
        await eventually(lambda: replica.app.state.tokens.known.fresh, what="the tokens' stream")
        assert (await c.get(DEPLOYMENTS)).status_code != 401
        assert (await c.get(DEPLOYMENTS)).status_code != 401
        await shared_gateway.client.delete(f"/api/tokens/{operator.id}")

        async def refused() -> httpx.Response | None:
            response = await c.get(DEPLOYMENTS)
            return response if response.status_code == 401 else None

        response = await eventually(refused, timeout_s=REPLICA_DELAY_S, interval_s=0.01)
        assert "revoked" in assert_problem(response, 401)["detail"]


async def test_an_expired_token_is_401(shared_gateway, callers):
    viewer = await callers("viewer", expires_in_s=3600)
    expires = datetime.fromisoformat(viewer.token["expires_at"])
    assert timedelta(minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=1)
    assert (await viewer.client.get(DEPLOYMENTS)).status_code != 401
    # Its hour passes.
    client, db = mongo(shared_gateway)
    try:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await db.tokens.update_one({"_id": viewer.id}, {"$set": {"expires_at": past}})
    finally:
        await client.close()

    async def refused() -> httpx.Response | None:
        response = await viewer.client.get(DEPLOYMENTS)
        return response if response.status_code == 401 else None

    response = await eventually(refused, timeout_s=REPLICA_DELAY_S, interval_s=0.01)
    problem = assert_problem(response, 401)
    assert "expired" in problem["detail"]
    assert response.headers["www-authenticate"] == INVALID_TOKEN


async def test_a_token_known_to_the_gateway_is_refused_from_the_moment_it_expires(
    shared_gateway, workloads
):
    secret = mint_secret()
    expires_at = as_stored(datetime.now(UTC) + timedelta(seconds=3))
    token = Token(
        id=str(uuid.uuid4()),
        name="short-lived",
        role=Role.VIEWER,
        scope=TokenScope(),
        created_at=datetime.now(UTC),
        expires_at=expires_at,
    )
    client, db = mongo(shared_gateway)
    try:
        await db.tokens.insert_one(document(token, digest(secret)))
    finally:
        await client.close()
    accepted_at: list[datetime] = []

    async with shared_gateway.client_as(secret) as viewer:

        async def refused() -> httpx.Response | None:
            sent_at = datetime.now(UTC)
            response = await viewer.get(DEPLOYMENTS)
            if response.status_code == 401:
                return response
            accepted_at.append(sent_at)
            return None

        response = await eventually(refused, timeout_s=10, interval_s=0.02)

    assert "expired" in assert_problem(response, 401)["detail"]
    assert len(accepted_at) > 1  # used (and so known) while it was valid
    assert all(sent < expires_at for sent in accepted_at)


async def test_a_role_changed_in_the_database_holds_within_a_moment(
    shared_gateway, callers, workloads
):
    operator = await callers("operator")
    assert (await operator.client.post(DEPLOYMENTS, json=WEB)).status_code != 403
    client, db = mongo(shared_gateway)
    try:
        await db.tokens.update_one({"_id": operator.id}, {"$set": {"role": "viewer"}})
    finally:
        await client.close()

    async def refused() -> httpx.Response | None:
        response = await operator.client.post(DEPLOYMENTS, json=WEB)
        return response if response.status_code == 403 else None

    response = await eventually(refused, timeout_s=REPLICA_DELAY_S, interval_s=0.01)
    assert "operator" in assert_problem(response, 403)["detail"]
    assert (await operator.client.get(DEPLOYMENTS)).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "role": "root"}, "role"),
        ({"name": "", "role": "viewer"}, "name"),
        ({"name": "x", "role": "viewer", "expires_in_s": 5}, "expires_in_s"),
        ({"name": "x", "role": "operator", "scope": {"namespaces": ["Not A Label"]}}, None),
    ],
)
async def test_a_bad_token_request_is_422_naming_the_field(shared_gateway, body, field):
    response = await shared_gateway.client.post("/api/tokens", json=body)

    problem = assert_problem(response, 422)
    assert field is None or field in {e["field"] for e in problem["errors"]}


# --- namespace scope ----------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def team_a(callers):
    return await callers("operator", name="team-a-ci", scope={"namespaces": ["team-a"]})


async def test_a_scoped_operator_creates_in_its_namespace(team_a, workloads):
    response = await team_a.client.post(DEPLOYMENTS, json={**WEB, "namespace": "team-a"})

    assert response.status_code == 202, response.text
    assert len(workloads.commands("create")) == 1


@pytest.mark.parametrize(
    "body", [{**WEB, "namespace": "team-b"}, WEB], ids=["other namespace", "default namespace"]
)
async def test_a_scoped_operator_may_not_create_elsewhere(team_a, workloads, body):
    response = await team_a.client.post(DEPLOYMENTS, json=body)

    problem = assert_problem(response, 403)
    assert "scoped to namespaces team-a" in problem["detail"]
    assert problem["allowed_namespaces"] == ["team-a"]
    assert workloads.commands("create") == []


async def test_a_scoped_operator_acts_only_on_entities_in_its_namespace(team_a, workloads):
    ours = workloads.add(running({**WEB, "namespace": "team-a"}))
    theirs = workloads.add(running({**WEB, "namespace": "team-b"}))

    refused = await team_a.client.post(f"{DEPLOYMENTS}/{theirs['id']}/scale", json={"replicas": 2})
    allowed = await team_a.client.post(f"{DEPLOYMENTS}/{ours['id']}/scale", json={"replicas": 2})

    problem = assert_problem(refused, 403)
    assert "this one is in namespace 'team-b'" in problem["detail"]
    assert allowed.status_code == 202, allowed.text
    assert [c.payload["id"] for c in workloads.commands("scale")] == [ours["id"]]


async def test_a_scoped_operator_may_not_move_an_entity_out_of_its_namespace(team_a, workloads):
    ours = workloads.add(running({**WEB, "namespace": "team-a"}))

    response = await team_a.client.put(
        f"{DEPLOYMENTS}/{ours['id']}", json={**WEB, "namespace": "team-b"}
    )

    assert_problem(response, 403)
    assert workloads.commands("update") == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/container-images", {"name": "web", "tag": "1.0.0"}),
        ("POST", "/api/minikube-clusters/c1/start", None),
        ("DELETE", "/api/minikube-clusters/c1", None),
    ],
)
async def test_a_scoped_operator_may_not_change_what_has_no_namespace(
    team_a, stubs, method, path, body
):
    response = await team_a.client.request(method, path, json=body)

    problem = assert_problem(response, 403)
    assert "have no namespace" in problem["detail"]
    assert all(stub.received == [] for stub in stubs.values())


async def test_a_scoped_operator_reads_everywhere(team_a, workloads):
    theirs = workloads.add(running({**WEB, "namespace": "team-b"}))

    response = await team_a.client.get(f"{DEPLOYMENTS}/{theirs['id']}")

    assert response.status_code == 200


# --- the bootstrap admin token ------------------------------------------------------------


async def test_the_admin_token_file_is_made_0600_and_kept_across_restarts(gateway_settings):
    settings = gateway_settings()

    async with serving(settings) as first:
        secret = first.admin_token
        mode = stat.S_IMODE(settings.admin_token_path.stat().st_mode)
        assert (await first.client.get("/api/tokens")).status_code == 200
    async with serving(settings) as second:
        assert second.admin_token == secret
        listing = (await second.client.get("/api/tokens")).json()["items"]

    assert mode == 0o600
    assert secret.startswith("slw_")
    assert [t["name"] for t in listing] == ["admin"]


async def test_a_revoked_admin_token_stays_revoked_after_a_restart(gateway_settings):
    settings = gateway_settings()

    async with serving(settings) as first:
        made = await first.client.post("/api/tokens", json={"name": "root", "role": "admin"})
        [bootstrap] = [
            t
            for t in (await first.client.get("/api/tokens")).json()["items"]
            if t["name"] == "admin"
        ]
        async with first.client_as(made.json()["token"]) as other_admin:
            assert (await other_admin.delete(f"/api/tokens/{bootstrap['id']}")).status_code == 204
    async with serving(settings) as second:
        refused = await second.client.get("/api/tokens")

    assert_problem(refused, 401)


async def test_a_token_file_given_is_used(gateway_settings, tmp_path):
    token_file = tmp_path / "secrets" / "gateway-admin"

    async with serving(gateway_settings(admin_token_file=token_file)) as running_:
        assert running_.admin_token == token_file.read_text().strip()
        assert (await running_.client.get("/api/tokens")).status_code == 200


async def test_with_authentication_off_every_call_acts_as_an_anonymous_admin(
    gateway_settings, capsys
):
    settings = gateway_settings(auth_enabled=False)

    async with serving(settings) as running_, running_.client_as(None) as anonymous:
        tokens = await anonymous.get("/api/tokens")
        made = await anonymous.post("/api/tokens", json={"name": "x", "role": "viewer"})
        audit = (await anonymous.get("/api/audit", params={"resource": "tokens"})).json()

    assert tokens.status_code == 200
    assert made.json()["created_by"] == "anonymous"
    assert audit["items"][0]["user"]["username"] == "anonymous"
    assert not settings.admin_token_path.exists()
    # The gateway's log is JSON lines on stderr.
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    assert any(e["level"] == "warning" and "AUTHENTICATION IS OFF" in e["message"] for e in logged)


async def test_with_mongodb_down_a_call_is_503_with_retry_after(gateway_settings):
    dead = devstack.mongodb_uri(devstack.free_port())
    settings = gateway_settings(mongodb_uri=dead, mongodb_timeout_s=0.3)

    async with serving(settings) as running_:
        read = await running_.client.get(DEPLOYMENTS)
        change = await running_.client.post(DEPLOYMENTS, json=WEB)
        ready = await running_.client.get("/readyz")

    for response in (read, change, ready):
        problem = assert_problem(response, 503)
        assert "MongoDB" in problem["detail"]
        assert response.headers["retry-after"] == str(RETRY_AFTER_S)


# --- /metrics -----------------------------------------------------------------------------


async def test_metrics_are_open_to_loopback_clients_by_default(shared_gateway):
    async with shared_gateway.client_as(None) as anonymous:
        response = await anonymous.get("/metrics")

    assert response.status_code == 200
    assert "slipway_http_requests_total" in response.text


async def test_metrics_can_require_a_viewer_token(gateway_settings):
    async with serving(gateway_settings(metrics_access="token")) as running_:
        async with running_.client_as(None) as anonymous:
            refused = await anonymous.get("/metrics")
        allowed = await running_.client.get("/metrics")

    assert_problem(refused, 401)
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    ("access", "host", "needs_token"),
    [
        ("loopback", "127.0.0.1", False),
        ("loopback", "127.8.9.10", False),
        ("loopback", "::1", False),
        ("loopback", "::ffff:127.0.0.1", False),
        ("loopback", "10.0.0.7", True),
        ("loopback", "2001:db8::1", True),
        ("loopback", None, True),
        ("open", "10.0.0.7", False),
        ("token", "127.0.0.1", True),
    ],
)
def test_who_may_read_metrics(access, host, needs_token):
    assert (metrics_role(access, host) is not None) == needs_token


LOOPBACK = [("127.0.0.1", True), ("::1", True), ("::ffff:127.0.0.2", True)]
NOT_LOOPBACK = [("10.0.0.1", False), ("::ffff:10.0.0.1", False), ("localhost", False), ("", False)]


@pytest.mark.parametrize(("host", "loopback"), [*LOOPBACK, *NOT_LOOPBACK])
def test_loopback_clients(host, loopback):
    assert is_loopback(host) == loopback


# --- the API document ---------------------------------------------------------------------


def test_every_api_operation_documents_its_bearer_token_401_and_403():
    document = create_app(GatewaySettings()).openapi()

    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "slw_<secret>",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    operations = [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]
    for path, method, operation in operations:
        if path == "/api/alerts/webhook":  # Alertmanager's shared secret: 401, never 403
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert "401" in operation["responses"] and "403" not in operation["responses"]
        elif path.startswith("/api/"):
            assert operation["security"] == [{"bearer": []}], (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
        else:
            assert "security" not in operation, (method, path)
    assert {"/api/tokens", "/api/tokens/{token_id}", "/api/audit"} <= set(document["paths"])
