"""`slipway approvals` against a fake transport: what it asks the gateway, what it shows."""

from __future__ import annotations

import json

import httpx

from tests.unit.cli.test_cli import fake, invoke

APPROVAL = {
    "id": "ap-1",
    "status": "pending",
    "command": {"summary": "scale deployment web to 3 replicas"},
    "requested_by": {"name": "agent-ci", "client": "kubectl-ai 0.0.20"},
    "expires_at": "2026-11-30T13:00:00Z",
}


def test_list_filters_by_status_and_shows_the_change_and_who_asked():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [APPROVAL], "next_cursor": None})

    result = invoke(fake(handler), "approvals", "list", "--status", "pending")
    assert result.exit_code == 0, result.output
    assert seen[0].url.path == "/api/approvals"
    assert seen[0].url.params["status"] == "pending"
    assert "scale deployment web to 3" in result.stdout
    assert "agent-ci" in result.stdout


def test_approve_and_reject_send_the_reason_and_show_the_outcome():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = "executed" if request.url.path.endswith("/approve") else "rejected"
        return httpx.Response(200, json={**APPROVAL, "status": status})

    approved = invoke(fake(handler), "approvals", "approve", "ap-1", "--reason", "ok", "-o", "json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["status"] == "executed"
    rejected = invoke(fake(handler), "approvals", "reject", "ap-1")
    assert rejected.exit_code == 0, rejected.output
    assert "rejected" in rejected.stdout
    assert [(r.method, r.url.path, json.loads(r.content)) for r in seen] == [
        ("POST", "/api/approvals/ap-1/approve", {"reason": "ok"}),
        ("POST", "/api/approvals/ap-1/reject", {"reason": None}),
    ]


def test_a_refused_self_approval_is_an_error_naming_the_rule():
    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "status": 403,
            "detail": "token 'agent-ci' asked for this change and cannot approve it",
        }
        return httpx.Response(403, json=body, headers={"Content-Type": "application/problem+json"})

    result = invoke(fake(handler), "approvals", "approve", "ap-1")
    assert result.exit_code == 1
    assert "cannot approve it" in result.stderr
