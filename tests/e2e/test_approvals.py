"""Approvals against the whole running stack: a change an agent asked for waits, pending,
until an operator who did not ask approves it; only then is it sent, and the deployment it
scales runs with the approval's id as the causation of its events. Rejected and expired
approvals send nothing; the audit log links the approval to the command's outcome.

The MCP server (which proposes in `approve` mode) is not needed here: the test proposes
as it does, through an `ApprovalDesk` on the gateway's own database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from slipway_contracts import subjects
from slipway_contracts.access import Role
from slipway_contracts.approvals import Approval, ProposedCommand
from slipway_gateway.access.identity import Principal
from slipway_gateway.adapters.approval_store import ApprovalStore
from slipway_gateway.adapters.audit_store import AuditStore
from slipway_gateway.approval_desk import ApprovalDesk
from slipway_gateway.settings import GatewaySettings
from slipway_keys.secrets import SecretKeySettings, sealer_from
from slipway_libs.storage import Database
from tests.e2e.test_access import Callers
from tests.e2e.test_workloads import build_image, deployment_body, start_cluster
from tests.events import events_for
from tests.stack import Stack, wait_status
from tests.waiting import poll

pytestmark = pytest.mark.slow
APPROVALS = "/api/approvals"
GATEWAY_DATABASE = GatewaySettings().database


class NothingSent:
    """The bus of a desk that only proposes: proposing never sends."""

    async def request(self, subject: str, payload: Any, command_id: str | None = None) -> Any:
        raise AssertionError(f"a proposal sent {subject}")


def propose(
    stack: Stack, command: ProposedCommand, asker: dict[str, Any], ttl_s: float = 3600
) -> Approval:
    """What the MCP server does in `approve` mode: a pending approval in the gateway's
    database, asked for by the token `asker`."""
    principal = Principal(asker["name"], Role(asker["role"]), asker["id"])

    async def run() -> Approval:
        database = Database(stack.mongodb_uri, GATEWAY_DATABASE)
        try:
            sealer = sealer_from(SecretKeySettings(), stack.state_dir)
            desk = ApprovalDesk(
                ApprovalStore(database, sealer), NothingSent(), AuditStore(database, 1), ttl_s
            )
            return await desk.propose(command, principal, "e2e-agent 1.0")
        finally:
            await database.close()

    # In a thread of its own: a caller may be running an event loop (Playwright's).
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, run()).result()


def scale(deployment: dict[str, Any], replicas: int, **extra: Any) -> ProposedCommand:
    payload = {"id": deployment["id"], "replicas": replicas, **extra}
    return ProposedCommand(
        tool="scale_deployment",
        arguments=payload,
        subject=subjects.command(subjects.DEPLOYMENT, "scale"),
        payload=payload,
        entity=subjects.DEPLOYMENT,
        entity_id=deployment["id"],
        namespace=deployment["namespace"],
        summary=f"scale deployment {deployment['name']} to {replicas} replicas",
    )


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


@pytest.fixture(scope="module")
def deployment(admin: httpx.Client) -> dict[str, Any]:
    image = build_image(admin, f"e2e/approved-{uuid.uuid4().hex[:8]}")
    cluster = start_cluster(admin, f"approvals-{uuid.uuid4().hex[:6]}")
    response = admin.post("/api/deployments", json=deployment_body(cluster, image, replicas=1))
    assert response.status_code == 202, response.text
    return wait_status(admin, response.headers["Location"], {"running"}, 90)


@pytest.fixture
def callers(stack: Stack, admin: httpx.Client) -> Iterator[Callers]:
    made = Callers(stack, admin)
    try:
        yield made
    finally:
        for client in made.clients:
            client.close()


def test_only_another_operators_yes_sends_the_command_and_the_audit_links_it(
    stack, admin, deployment, callers
):
    asker, as_asker = callers("operator")
    _, approver = callers("operator")
    location = f"/api/deployments/{deployment['id']}"
    approval = propose(stack, scale(deployment, 3), asker)

    shown = as_asker.get(f"{APPROVALS}/{approval.id}")
    assert shown.status_code == 200, shown.text
    assert shown.json()["status"] == "pending"
    assert shown.json()["requested_by"]["client"] == "e2e-agent 1.0"
    listed = admin.get(APPROVALS, params={"status": "pending", "limit": 500}).json()
    assert approval.id in [a["id"] for a in listed["items"]]
    assert admin.get(location).json()["replicas"] == 1  # nothing changed yet

    own = as_asker.post(f"{APPROVALS}/{approval.id}/approve", json={"reason": "mine"})
    assert own.status_code == 403, own.text
    assert own.headers["content-type"] == "application/problem+json"
    assert "cannot approve" in own.json()["detail"]
    assert own.json()["rule"] == "no-self-approval"
    assert admin.get(location).json()["replicas"] == 1

    approved = approver.post(f"{APPROVALS}/{approval.id}/approve", json={"reason": "fine"})
    assert approved.status_code == 200, approved.text
    outcome = approved.json()
    assert (outcome["status"], outcome["reason"]) == ("executed", "fine")
    assert outcome["result"]["id"] == deployment["id"]
    running = wait_status(admin, location, {"running", "failed"}, 60)
    assert (running["status"], running["available_replicas"]) == ("running", 3)

    causes = {
        e.get("causationid")
        for _, e in events_for(stack.events_reader, deployment["id"], subjects.DEPLOYMENT)
    }
    assert approval.id in causes

    def announced() -> set[str]:
        published = events_for(stack.events_reader, approval.id, subjects.APPROVAL)
        statuses = {s.rsplit(".", 1)[-1] for s, _ in published}
        return statuses if {"approved", "executed"} <= statuses else set()

    poll(announced, timeout_s=30, what="the approval's events on SLIPWAY_EVENTS")

    again = approver.post(f"{APPROVALS}/{approval.id}/approve")
    assert again.status_code == 409
    assert again.json()["current_status"] == "executed"

    entries = admin.get("/api/audit", params={"approval_id": approval.id}).json()["items"]
    by_verb = {(e["verb"], e["responseStatus"]["status"]): e for e in entries}
    execution = by_verb[("scale", "Success")]
    assert execution["user"]["username"] == asker["name"]
    assert execution["annotations"]["slipway.io/via"] == "approval"
    assert execution["objectRef"]["name"] == deployment["id"]
    decision = by_verb[("approve", "Success")]
    assert decision["user"]["username"] != asker["name"]
    assert execution["annotations"]["slipway.io/approved-by"] == decision["user"]["username"]
    assert ("approve", "Failure") in by_verb  # the requester's own try, refused


def test_a_rejected_approval_sends_nothing_and_never_shows_a_credential(
    stack, admin, deployment, callers
):
    asker, as_asker = callers("operator")
    _, viewer = callers("viewer")
    approval = propose(stack, scale(deployment, 7, registry_password="hunter2"), asker)

    shown = viewer.get(f"{APPROVALS}/{approval.id}")
    assert shown.status_code == 200
    assert "hunter2" not in shown.text
    assert shown.json()["command"]["payload"]["registry_password"] == "[redacted]"
    with MongoClient(stack.mongodb_uri) as mongo:
        row = mongo[GATEWAY_DATABASE]["approvals"].find_one({"_id": approval.id})
    assert "hunter2" not in str(row)

    refused = viewer.post(f"{APPROVALS}/{approval.id}/reject")
    assert refused.status_code == 403  # a viewer reads, never decides
    withdrawn = as_asker.post(f"{APPROVALS}/{approval.id}/reject", json={"reason": "oops"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert (withdrawn.json()["status"], withdrawn.json()["reason"]) == ("rejected", "oops")
    late = admin.post(f"{APPROVALS}/{approval.id}/approve")
    assert late.status_code == 409
    assert late.json()["current_status"] == "rejected"
    current = admin.get(f"/api/deployments/{deployment['id']}").json()
    assert current["replicas"] != 7
    causes = {
        e.get("causationid")
        for _, e in events_for(stack.events_reader, deployment["id"], subjects.DEPLOYMENT)
    }
    assert approval.id not in causes


def test_an_approval_nobody_decided_expires_and_cannot_be_approved(
    stack, admin, deployment, callers
):
    asker, _ = callers("operator")
    approval = propose(stack, scale(deployment, 2), asker, ttl_s=1)

    def expired() -> bool:
        return admin.get(f"{APPROVALS}/{approval.id}").json()["status"] == "expired"

    poll(expired, timeout_s=10, what="the approval expired")
    late = admin.post(f"{APPROVALS}/{approval.id}/approve")
    assert late.status_code == 409
    assert late.json()["current_status"] == "expired"
    entries = admin.get("/api/audit", params={"approval_id": approval.id}).json()["items"]
    assert "expire" in {e["verb"] for e in entries}


def test_an_unknown_approval_is_a_404(admin):
    missing = admin.post(f"{APPROVALS}/{uuid.uuid4()}/approve")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
