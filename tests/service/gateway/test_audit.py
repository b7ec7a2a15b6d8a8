"""The audit log through the real gateway (a real MongoDB): one entry per change and per
refused call, shaped like the Kubernetes audit event, never a secret; `GET /api/audit`
with its filters and cursor."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import slipway_devstack as devstack
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection

from slipway_contracts.access import AuditEvent
from slipway_gateway.access.audit_entries import verb
from slipway_gateway.access.rules import ApiPath
from slipway_gateway.adapters.audit_store import AuditStore
from slipway_gateway.entrypoints import auditing
from slipway_libs.storage import Database
from tests.service.gateway.conftest import StubService, assert_problem, serving
from tests.waiting import eventually

DEPLOYMENTS = "/api/deployments"
WEB = {"name": "web", "cluster_id": "c1", "image": "todo/web:1.0.0", "container_port": 8080}
AUDIT = "/api/audit"


def pending(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "status": "pending"}


@pytest_asyncio.fixture(loop_scope="session")
async def workloads(serve) -> StubService:
    return await serve(
        StubService("deployment", pending, transitions={"scale": ({"pending"}, "updating")})
    )


async def entries(admin: httpx.AsyncClient, **filters: Any) -> list[dict[str, Any]]:
    """Every entry the filters match, newest first, read page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await admin.get(AUDIT, params={**filters, "cursor": cursor, "limit": 100})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def request_id() -> str:
    return f"req-{uuid.uuid4()}"


# --- what is recorded ---------------------------------------------------------------------


async def test_a_viewers_refused_create_is_recorded(shared_gateway, callers, workloads):
    viewer = await callers("viewer")
    rid = request_id()

    refused = await viewer.client.post(
        DEPLOYMENTS, json=WEB, headers={"X-Request-ID": rid, "User-Agent": "ci-bot/1.0"}
    )

    assert refused.status_code == 403
    [entry] = await entries(shared_gateway.client, actor=viewer.name)
    AuditEvent.model_validate(entry)
    assert entry["kind"] == "Event" and entry["apiVersion"] == "audit.slipway.io/v1"
    assert entry["verb"] == "create"
    assert entry["requestURI"] == DEPLOYMENTS
    assert entry["user"] == {
        "username": viewer.name,
        "uid": viewer.id,
        "groups": ["slipway:viewer"],
    }
    assert entry["objectRef"]["resource"] == "deployments"
    assert entry["responseStatus"] == {"code": 403, "status": "Failure", "reason": "forbidden"}
    assert entry["correlationID"] == rid
    assert entry["sourceIPs"] == ["127.0.0.1"]
    assert entry["userAgent"] == "ci-bot/1.0"
    assert entry["annotations"] == {"slipway.io/via": "api", "slipway.io/role": "viewer"}
    received = datetime.fromisoformat(entry["requestReceivedTimestamp"])
    assert received <= datetime.fromisoformat(entry["stageTimestamp"])


async def test_an_operators_create_is_recorded_with_the_new_entity(
    shared_gateway, callers, workloads
):
    operator = await callers("operator")
    rid = request_id()

    created = await operator.client.post(
        DEPLOYMENTS, json={**WEB, "namespace": "shop"}, headers={"X-Request-ID": rid}
    )

    assert created.status_code == 202
    [entry] = await entries(shared_gateway.client, actor=operator.id)
    assert entry["user"]["username"] == operator.name
    assert entry["verb"] == "create"
    assert entry["objectRef"] == {
        "resource": "deployments",
        "namespace": "shop",
        "name": created.json()["id"],
        "subresource": None,
    }
    assert entry["responseStatus"] == {"code": 202, "status": "Success", "reason": None}
    assert entry["correlationID"] == rid == created.headers["x-request-id"]
    assert entry["annotations"]["slipway.io/role"] == "operator"


async def test_an_action_is_recorded_under_its_own_verb(shared_gateway, callers, workloads):
    operator = await callers("operator")
    deployment = workloads.add(pending({**WEB, "namespace": "shop"}))

    response = await operator.client.post(
        f"{DEPLOYMENTS}/{deployment['id']}/scale?dry=no", json={"replicas": 2}
    )

    assert response.status_code == 202, response.text
    [entry] = await entries(shared_gateway.client, actor=operator.name)
    assert entry["verb"] == "scale"
    assert entry["requestURI"] == f"{DEPLOYMENTS}/{deployment['id']}/scale?dry=no"
    assert entry["objectRef"] == {
        "resource": "deployments",
        "namespace": "shop",
        "name": deployment["id"],
        "subresource": "scale",
    }


async def test_a_failed_change_is_recorded_with_the_problems_code(shared_gateway, callers, serve):
    operator = await callers("operator")
    await serve(StubService("deployment", pending))

    missing = await operator.client.delete(f"{DEPLOYMENTS}/no-such-deployment")
    invalid = await operator.client.post(DEPLOYMENTS, json={"name": "web"})

    assert missing.status_code == 404 and invalid.status_code == 422
    created, deleted = await entries(shared_gateway.client, actor=operator.name)
    assert deleted["verb"] == "delete"
    assert deleted["objectRef"]["name"] == "no-such-deployment"
    assert deleted["responseStatus"] == {"code": 404, "status": "Failure", "reason": "not_found"}
    assert created["responseStatus"] == {"code": 422, "status": "Failure", "reason": "invalid"}


async def test_a_call_without_a_valid_token_is_recorded_as_anonymous(shared_gateway):
    rid = request_id()
    async with shared_gateway.client_as("slw_guessed") as stranger:
        await stranger.get(f"{DEPLOYMENTS}/d1", headers={"X-Request-ID": rid})

    anonymous = await entries(shared_gateway.client, actor="anonymous", outcome=401)
    [entry] = [e for e in anonymous if e["correlationID"] == rid]
    assert entry["correlationID"] == rid
    assert entry["verb"] == "get"
    assert entry["user"] == {"username": "anonymous", "uid": None, "groups": []}
    assert entry["responseStatus"]["reason"] == "unauthorized"
    assert "slipway.io/role" not in entry["annotations"]


async def test_reads_are_not_recorded(shared_gateway, callers, workloads):
    viewer = await callers("viewer")

    assert (await viewer.client.get(DEPLOYMENTS)).status_code == 200

    assert await entries(shared_gateway.client, actor=viewer.name) == []


async def test_no_entry_holds_a_token_secret(shared_gateway, callers):
    made = [await callers(role) for role in ("viewer", "operator", "admin")]
    await made[0].client.post(DEPLOYMENTS, json=WEB)  # refused, so recorded
    await made[2].client.delete(f"/api/tokens/{made[1].id}")

    log = repr(await entries(shared_gateway.client))

    secrets = [caller.token["token"] for caller in made] + [shared_gateway.admin_token]
    assert all(secret not in log for secret in secrets)
    assert "slw_" not in log and "authorization" not in log.lower()


async def test_making_a_token_is_recorded_with_its_id(shared_gateway):
    made = await shared_gateway.client.post("/api/tokens", json={"name": "bot", "role": "viewer"})

    [entry] = await entries(shared_gateway.client, resource="tokens", name=made.json()["id"])

    assert entry["verb"] == "create"
    assert entry["user"]["username"] == "admin"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
async def test_no_route_changes_or_deletes_an_entry(shared_gateway, method):
    response = await shared_gateway.client.request(method, AUDIT)
    assert response.status_code == 405


# --- GET /api/audit -----------------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def history(shared_gateway, callers, workloads) -> dict[str, Any]:
    """One operator's calls: three creates in two namespaces, a scale, a failed delete."""
    operator = await callers("operator")
    ids = []
    for namespace in ("red", "red", "blue"):
        response = await operator.client.post(DEPLOYMENTS, json={**WEB, "namespace": namespace})
        ids.append(response.json()["id"])
    await operator.client.post(f"{DEPLOYMENTS}/{ids[0]}/scale", json={"replicas": 2})
    await operator.client.delete(f"{DEPLOYMENTS}/gone")
    return {"operator": operator, "ids": ids, "all": await entries(shared_gateway.client)}


async def test_entries_are_listed_newest_first(shared_gateway, history):
    mine = await entries(shared_gateway.client, actor=history["operator"].name)

    assert [e["verb"] for e in mine] == ["delete", "scale", "create", "create", "create"]
    # As times: a string sorts a whole second ("…:28Z") after its fractions ("…:28.221Z").
    stamps = [datetime.fromisoformat(e["stageTimestamp"]) for e in history["all"]]
    assert stamps == sorted(stamps, reverse=True)


async def test_the_cursor_pages_through_every_entry_once(shared_gateway, history):
    operator = history["operator"]
    pages = []
    cursor = None
    while True:
        params = {"actor": operator.name, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await shared_gateway.client.get(AUDIT, params=params)).json()
        pages.append([e["auditID"] for e in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert [len(p) for p in pages] == [2, 2, 1]
    everything = await entries(shared_gateway.client, actor=operator.name)
    assert [i for page in pages for i in page] == [e["auditID"] for e in everything]


@pytest.mark.parametrize(
    ("filters", "verbs"),
    [
        ({"resource": "deployments", "namespace": "red"}, ["scale", "create", "create"]),
        ({"namespace": "blue"}, ["create"]),
        ({"verb": "scale"}, ["scale"]),
        ({"outcome": "failure"}, ["delete"]),
        ({"outcome": "Failure"}, ["delete"]),
        ({"outcome": "404"}, ["delete"]),
        ({"outcome": "success", "verb": "create"}, ["create"] * 3),
        ({"outcome": "202", "namespace": "blue"}, ["create"]),
        ({"resource": "tokens"}, []),
    ],
)
async def test_entries_are_filtered(shared_gateway, history, filters, verbs):
    found = await entries(shared_gateway.client, actor=history["operator"].name, **filters)

    assert [e["verb"] for e in found] == verbs


async def test_entries_are_filtered_by_entity_id_and_by_actor_uid(shared_gateway, history):
    operator = history["operator"]

    by_name = await entries(shared_gateway.client, name=history["ids"][0])
    by_uid = await entries(shared_gateway.client, actor=operator.id)

    assert [e["verb"] for e in by_name] == ["scale", "create"]
    assert len(by_uid) == 5


async def test_entries_are_filtered_by_time(shared_gateway, history):
    operator = history["operator"]
    mine = await entries(shared_gateway.client, actor=operator.name)
    oldest, newest = mine[-1]["stageTimestamp"], mine[0]["stageTimestamp"]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    assert len(await entries(shared_gateway.client, actor=operator.name, since=oldest)) == 5
    assert len(await entries(shared_gateway.client, actor=operator.name, until=oldest)) == 1
    assert len(await entries(shared_gateway.client, actor=operator.name, since=newest)) == 1
    assert await entries(shared_gateway.client, actor=operator.name, since=later) == []
    # An ISO-8601 moment without an offset is UTC.
    naive = datetime.fromisoformat(oldest).astimezone(UTC).replace(tzinfo=None).isoformat()
    assert len(await entries(shared_gateway.client, actor=operator.name, since=naive)) == 5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"outcome": "maybe"}, "query.outcome"),
        ({"outcome": "99"}, "query.outcome"),
        ({"since": "yesterday"}, "query.since"),
        ({"until": "2026-13-01"}, "query.until"),
        ({"limit": "0"}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
async def test_a_bad_filter_is_422_naming_it(shared_gateway, params, field):
    response = await shared_gateway.client.get(AUDIT, params=params)

    problem = assert_problem(response, 422, {field})
    assert field.removeprefix("query.") in problem["detail"]


# --- storage ------------------------------------------------------------------------------


async def test_entries_expire_after_the_retention_and_are_unique_by_audit_id(gateway_settings):
    settings = gateway_settings(audit_retention_days=30)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri)
    try:
        async with serving(settings):
            first = await client[settings.database].audit.index_information()
        # The retention changed: the index follows on the next start.
        async with serving(settings.model_copy(update={"audit_retention_days": 7})):
            second = await client[settings.database].audit.index_information()
    finally:
        await client.close()

    [ttl] = [i for i in first.values() if "expireAfterSeconds" in i]
    assert ttl["key"] == [("stageTimestamp", 1)]
    assert ttl["expireAfterSeconds"] == 30 * 86400
    [ttl] = [i for i in second.values() if "expireAfterSeconds" in i]
    assert ttl["expireAfterSeconds"] == 7 * 86400
    assert any(i.get("unique") and i["key"] == [("auditID", 1)] for i in first.values())


async def test_concurrent_changes_are_each_recorded_by_the_time_they_are_answered(
    shared_gateway, callers, workloads
):
    operator = await callers("operator")
    rids = [request_id() for _ in range(40)]

    async def create(rid: str) -> tuple[httpx.Response, list[dict[str, Any]]]:
        created = await operator.client.post(DEPLOYMENTS, json=WEB, headers={"X-Request-ID": rid})
        # Read at once: the entry is in the log by the time its change is answered.
        mine = await entries(shared_gateway.client, actor=operator.id)
        return created, [e for e in mine if e["correlationID"] == rid]

    answers = await asyncio.gather(*(create(rid) for rid in rids))

    for created, [entry] in answers:
        assert created.status_code == 202
        assert entry["objectRef"]["name"] == created.json()["id"]
    recorded = await entries(shared_gateway.client, actor=operator.id)
    assert sorted(e["correlationID"] for e in recorded) == sorted(rids)
    assert len({e["auditID"] for e in recorded}) == len(rids)


@pytest_asyncio.fixture(loop_scope="session")
async def audit_collection(shared_gateway) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    """The shared gateway's `audit` collection, as MongoDB's own client sees it."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(shared_gateway.settings.mongodb_uri)
    try:
        yield client[shared_gateway.settings.database].audit
    finally:
        await client.close()


async def test_a_change_whose_entry_mongodb_refuses_is_answered_and_its_entry_kept_later(
    shared_gateway, callers, workloads, audit_collection, caplog
):
    """MongoDB refuses some entries (here a validator refuses one user agent's) while
    others are written alongside them: every change is answered as made, the others are
    in the log at once, the refused ones are stored again once MongoDB takes them."""
    operator = await callers("operator")
    database = audit_collection.database
    refused_agent = f"refused-{uuid.uuid4().hex[:8]}"
    refuse = {"userAgent": {"$ne": refused_agent}}
    await database.command("collMod", "audit", validator=refuse, validationLevel="moderate")
    try:

        async def create(agent: str) -> httpx.Response:
            headers = {"X-Request-ID": request_id(), "User-Agent": agent}
            return await operator.client.post(DEPLOYMENTS, json=WEB, headers=headers)

        with caplog.at_level(logging.WARNING, logger=auditing.__name__):
            agents = [refused_agent, "ci-bot/1.0"] * 10
            answers = await asyncio.gather(*(create(agent) for agent in agents))

        assert [answer.status_code for answer in answers] == [202] * len(agents)
        kept = await entries(shared_gateway.client, actor=operator.id)
        assert {e["userAgent"] for e in kept} == {"ci-bot/1.0"}
        assert len(kept) == 10
        retried = [r for r in caplog.records if r.getMessage().startswith("audit entry not stored")]
        assert len(retried) == 10
    finally:
        await database.command("collMod", "audit", validator={}, validationLevel="off")

    async def all_kept() -> list[dict[str, Any]]:
        kept = await entries(shared_gateway.client, actor=operator.id)
        return kept if len(kept) == len(agents) else []

    kept = await eventually(all_kept, timeout_s=15, what="the refused entries stored again")
    assert sorted(e["correlationID"] for e in kept) == sorted(
        answer.headers["x-request-id"] for answer in answers
    )


class Inserts(monitoring.CommandListener):
    """Counts the insert commands a client sends."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += event.command_name == "insert"

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def new_entry() -> AuditEvent:
    now = datetime.now(UTC)
    return AuditEvent.model_validate(
        {
            "auditID": str(uuid.uuid4()),
            "requestURI": DEPLOYMENTS,
            "verb": "create",
            "user": {"username": "admin"},
            "responseStatus": {"status": "Success", "code": 202},
            "requestReceivedTimestamp": now,
            "stageTimestamp": now,
        }
    )


async def test_entries_recorded_together_are_written_together_each_once(gateway_settings):
    settings = gateway_settings()
    inserts = Inserts()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri, event_listeners=[inserts]
    )
    database = Database(settings.mongodb_uri, settings.database)
    store = AuditStore(database, settings.audit_retention_days)
    store.collection = client[settings.database].audit
    try:
        await store.ensure_indexes()
        first = [new_entry() for _ in range(50)]
        await asyncio.gather(*(store.record(entry) for entry in first))
        written = inserts.count
        # Entries kept already (stored again after a failure) beside new ones.
        second = [new_entry() for _ in range(10)]
        await asyncio.gather(*(store.record(entry) for entry in first[:10] + second))
        rows = await store.collection.find({}, {"auditID": True}).to_list(None)
    finally:
        await client.close()
        await database.close()

    assert sorted(row["auditID"] for row in rows) == sorted(e.auditID for e in first + second)
    assert written < len(first)  # in groups, not one insert each


async def test_with_mongodb_down_and_auth_off_a_change_is_503(gateway_settings, workloads):
    dead = devstack.mongodb_uri(devstack.free_port())
    settings = gateway_settings(mongodb_uri=dead, mongodb_timeout_s=0.3, auth_enabled=False)

    async with serving(settings) as running:
        change = await running.client.post(DEPLOYMENTS, json=WEB)

    problem = assert_problem(change, 503)
    assert "MongoDB" in problem["detail"]
    assert change.headers["retry-after"]
    assert workloads.received == []


# --- verbs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/deployments", "create"),
        ("GET", "/api/deployments", "list"),
        ("GET", "/api/deployments/d1", "get"),
        ("HEAD", "/api/deployments/d1", "get"),
        ("PUT", "/api/deployments/d1", "update"),
        ("PATCH", "/api/deployments/d1", "patch"),
        ("DELETE", "/api/deployments/d1", "delete"),
        ("POST", "/api/deployments/d1/scale", "scale"),
        ("POST", "/api/minikube-clusters/c1/restart", "restart"),
        ("POST", "/api/releases/r1/rollback", "rollback"),
        ("GET", "/api/minikube-clusters/c1/kubeconfig", "get"),
        ("DELETE", "/api/tokens/t1", "delete"),
        ("GET", "/metrics", "get"),
    ],
)
def test_the_verb_of_a_call(method, path, expected):
    assert verb(method, ApiPath.parse(path)) == expected
