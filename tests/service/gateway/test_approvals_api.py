"""`/api/approvals` on a real gateway (real NATS, real MongoDB) with a stub owning service:
who may decide, what is sent and with which command id, paging, and an approval a gateway
could not send being sent by the next one at its start."""

from __future__ import annotations

import uuid
from typing import Any

import pytest_asyncio

from slipway_contracts.access import Role
from slipway_contracts.approvals import Approval, ApprovalDecision, ProposedCommand
from slipway_gateway.access.identity import Principal
from tests.service.gateway.conftest import (
    Caller,
    RunningGateway,
    StubService,
    assert_problem,
    serving,
)
from tests.waiting import eventually

APPROVALS = "/api/approvals"


def scale(entity_id: str, replicas: int, namespace: str = "default") -> ProposedCommand:
    payload = {"id": entity_id, "replicas": replicas}
    return ProposedCommand(
        tool="scale_deployment",
        arguments=payload,
        subject="slipway.deployment.cmd.scale",
        payload=payload,
        entity="deployment",
        entity_id=entity_id,
        namespace=namespace,
        summary=f"scale deployment {entity_id} to {replicas} replicas",
    )


def as_principal(caller: Caller) -> Principal:
    return Principal(caller.name, Role(caller.token["role"]), caller.id)


async def propose(gateway: RunningGateway, command: ProposedCommand, asker: Caller) -> Approval:
    """As the MCP server does in `approve` mode."""
    desk = gateway.app.state.approvals
    approval: Approval = await desk.propose(command, as_principal(asker), "kagent 0.3")
    return approval


@pytest_asyncio.fixture(loop_scope="session")
async def workloads(serve) -> StubService:
    stub = StubService(
        "deployment",
        lambda payload: {**payload, "status": "running"},
        transitions={"scale": ({"running"}, "updating")},
    )
    return await serve(stub)


def running_deployment(workloads: StubService) -> dict[str, Any]:
    return workloads.add(
        {"name": "web", "namespace": "default", "replicas": 1, "status": "running"}
    )


async def test_another_operator_approves_and_the_command_goes_with_the_approval_id(
    shared_gateway, callers, workloads
):
    asker, approver = await callers("operator"), await callers("operator")
    deployment = running_deployment(workloads)
    approval = await propose(shared_gateway, scale(deployment["id"], 4), asker)
    assert workloads.commands("scale") == []

    own = await asker.client.post(f"{APPROVALS}/{approval.id}/approve")
    assert assert_problem(own, 403)["rule"] == "no-self-approval"
    done = await approver.client.post(f"{APPROVALS}/{approval.id}/approve", json={"reason": "ok"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "executed"
    assert done.json()["result"]["replicas"] == 4
    [sent] = workloads.commands("scale")
    assert (sent.payload, sent.command_id) == ({"id": deployment["id"], "replicas": 4}, approval.id)


async def test_a_refusal_by_the_service_is_a_failed_approval_naming_its_error(
    shared_gateway, callers, workloads
):
    asker, approver = await callers("operator"), await callers("operator")
    approval = await propose(shared_gateway, scale(str(uuid.uuid4()), 2), asker)
    done = await approver.client.post(f"{APPROVALS}/{approval.id}/approve")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "failed"
    assert done.json()["error"]["code"] == "not_found"


async def test_viewers_read_but_never_decide_and_scoped_operators_decide_only_their_namespace(
    shared_gateway, callers, workloads
):
    asker = await callers("operator")
    viewer = await callers("viewer")
    elsewhere = await callers("operator", scope={"namespaces": ["team-b"]})
    approval = await propose(shared_gateway, scale(running_deployment(workloads)["id"], 2), asker)

    shown = await viewer.client.get(f"{APPROVALS}/{approval.id}")
    assert shown.status_code == 200
    assert (
        shown.json()["command"]["summary"]
        == f"scale deployment {approval.command.entity_id} to 2 replicas"
    )
    assert_problem(await viewer.client.post(f"{APPROVALS}/{approval.id}/approve"), 403)
    scoped = assert_problem(await elsewhere.client.post(f"{APPROVALS}/{approval.id}/reject"), 403)
    assert scoped["allowed_namespaces"] == ["team-b"]
    assert_problem(await viewer.client.post(f"{APPROVALS}/{uuid.uuid4()}/reject"), 403)
    assert_problem(await asker.client.post(f"{APPROVALS}/{uuid.uuid4()}/reject"), 404)
    assert (await shared_gateway.client.get(f"{APPROVALS}/{approval.id}")).json()[
        "status"
    ] == "pending"


async def test_the_list_filters_by_status_and_comes_in_pages(shared_gateway, callers, workloads):
    asker = await callers("operator")
    made = [
        (await propose(shared_gateway, scale(running_deployment(workloads)["id"], 2), asker)).id
        for _ in range(3)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"status": "pending", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await asker.client.get(APPROVALS, params=params)).json()
        assert all(a["status"] == "pending" for a in page["items"])
        seen += [a["id"] for a in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert [i for i in seen if i in made] == made
    assert_problem(
        await asker.client.get(APPROVALS, params={"status": "maybe"}), 422, {"query.status"}
    )


async def test_an_approval_a_gateway_could_not_send_is_sent_by_the_next_at_its_start(
    gateway_settings, serve
):
    settings = gateway_settings(request_timeout_s=0.5, approval_sweep_interval_s=0.2)
    async with serving(settings) as first:
        asker = Principal("agent", Role.OPERATOR, "tok-agent")
        approver = Principal("alice", Role.OPERATOR, "tok-alice")
        desk = first.app.state.approvals
        approval = await desk.propose(scale("dep-later", 3), asker, None)
        stuck = await desk.approve(approval.id, approver, ApprovalDecision())
        assert stuck.status == "approved"  # nothing answers the deployment's commands yet
    workloads = await serve(
        StubService("deployment", dict, answers={"slipway.deployment.cmd.scale": dict})
    )
    async with serving(settings) as second:

        async def settled() -> dict[str, Any] | None:
            shown = (await second.client.get(f"{APPROVALS}/{approval.id}")).json()
            return shown if shown["status"] != "approved" else None

        outcome = await eventually(settled, timeout_s=10, what="the approval settled")
    assert outcome["status"] == "executed"
    assert [r.command_id for r in workloads.commands("scale")] == [approval.id]
