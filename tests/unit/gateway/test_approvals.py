"""Approvals: the rules (transitions, who may decide, expiry, what is shown of a command)
and the desk's use cases against in-memory fakes of the store, the bus and the audit log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipway_contracts.access import Role
from slipway_contracts.approvals import (
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    ProposedCommand,
)
from slipway_gateway.access import approvals as rules
from slipway_gateway.access.identity import Principal
from slipway_gateway.access.rules import Forbidden
from slipway_gateway.approval_desk import ApprovalDesk
from slipway_libs.errors import Conflict, InvalidInput, NotFound, Unavailable
from tests.unit.gateway.fakes import FakeAuditLog, FakeBus, FakeEvents, InMemoryApprovalStore

S = ApprovalStatus
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ASKER = Principal("agent-ci", Role.OPERATOR, "tok-asker")
APPROVER = Principal("alice", Role.OPERATOR, "tok-alice")
SCALE = "slipway.deployment.cmd.scale"


def scale(replicas: int = 3, namespace: str | None = "default", **payload: Any) -> ProposedCommand:
    return ProposedCommand(
        tool="scale_deployment",
        arguments={"id": "dep-1", "replicas": replicas},
        subject=SCALE,
        payload={"id": "dep-1", "replicas": replicas, **payload},
        entity="deployment",
        entity_id="dep-1",
        namespace=namespace,
        summary=f"scale deployment web to {replicas} replicas",
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Desk:
    """A desk over fakes, with a clock the test moves."""

    def __init__(self, ttl_s: float = 3600) -> None:
        self.store = InMemoryApprovalStore()
        self.bus = FakeBus()
        self.audit = FakeAuditLog()
        self.clock = Clock()
        self.events = FakeEvents()
        self.desk = ApprovalDesk(
            self.store,
            self.bus,
            self.audit,
            ttl_s,
            events=self.events,
            settle_s=30,
            clock=self.clock,
        )

    async def proposed(self, command: ProposedCommand | None = None) -> Approval:
        return await self.desk.propose(command or scale(), ASKER, "kubectl-ai 0.0.20")


@pytest.fixture
def desk() -> Desk:
    return Desk()


# --- rules ---------------------------------------------------------------------------------


def pending() -> Approval:
    return rules.new_approval(
        "ap-1", scale(), rules.requester_of(ASKER, None), T0, timedelta(hours=1)
    )


@pytest.mark.parametrize(
    ("path", "legal"),
    [
        ([S.APPROVED, S.EXECUTED], True),
        ([S.APPROVED, S.FAILED], True),
        ([S.REJECTED], True),
        ([S.EXPIRED], True),
        ([S.EXECUTED], False),
        ([S.REJECTED, S.APPROVED], False),
        ([S.EXPIRED, S.APPROVED], False),
        ([S.APPROVED, S.EXECUTED, S.FAILED], False),
        ([S.APPROVED, S.REJECTED], False),
    ],
)
def test_an_approval_moves_only_along_its_transition_table(path, legal):
    approval = pending()

    def walk() -> Approval:
        moved = approval
        for status in path:
            moved = rules.move(moved, status, T0)
        return moved

    if legal:
        assert walk().status is path[-1]
        assert walk().revision == 1 + len(path)
    else:
        with pytest.raises(Conflict, match="cannot become") as refused:
            walk()
        assert refused.value.details["current_status"] != str(path[-1])


def test_whoever_asked_cannot_approve_by_token_or_by_name_but_may_withdraw():
    approval = pending()
    same_name = Principal("agent-ci", Role.ADMIN, "another-token")
    for asker in (ASKER, same_name):
        with pytest.raises(Forbidden, match="cannot approve") as refused:
            rules.check_may_decide(approval, asker, rules.Decision.APPROVE)
        assert refused.value.details["rule"] == "no-self-approval"
    rules.check_may_decide(approval, ASKER, rules.Decision.REJECT)
    rules.check_may_decide(approval, APPROVER, rules.Decision.APPROVE)


def test_a_scoped_approver_decides_only_in_its_namespaces():
    approval = pending()
    elsewhere = Principal("bob", Role.OPERATOR, "tok-bob", ("team-b",))
    there = Principal("carol", Role.OPERATOR, "tok-carol", ("default",))
    for decision in rules.Decision:
        with pytest.raises(Forbidden, match="scoped to namespaces team-b"):
            rules.check_may_decide(approval, elsewhere, decision)
        rules.check_may_decide(approval, there, decision)
    unnamespaced = approval.model_copy(update={"command": scale(namespace=None)})
    with pytest.raises(Forbidden):
        rules.check_may_decide(unnamespaced, there, rules.Decision.APPROVE)


def test_a_pending_approval_is_overdue_from_its_expiry_on():
    approval = pending()
    assert not rules.is_overdue(approval, approval.expires_at - timedelta(seconds=1))
    assert rules.is_overdue(approval, approval.expires_at)
    assert not rules.is_overdue(rules.move(approval, S.REJECTED, T0), T0 + timedelta(days=1))


def test_credentials_are_redacted_at_any_depth_and_nothing_else_is():
    command = scale(
        registry_auth={"username": "u", "password": "hunter2"},
        build={"args": {"API_TOKEN": "t0k", "VERSION": "1"}},
        kubeconfig_data="apiVersion: v1 ...",
        author="me",
        archive="x" * 5000,
    )
    shown = rules.redacted(command)
    assert shown.payload["registry_auth"] == rules.REDACTED
    assert shown.payload["kubeconfig_data"] == rules.REDACTED
    assert shown.payload["build"]["args"] == {"API_TOKEN": rules.REDACTED, "VERSION": "1"}
    assert shown.payload["archive"] == "[5000 characters, not shown]"
    assert (shown.payload["replicas"], shown.payload["author"]) == (3, "me")
    assert "hunter2" not in shown.model_dump_json()


# --- the desk ------------------------------------------------------------------------------


async def test_a_proposal_is_pending_names_who_asked_and_sends_nothing(desk):
    approval = await desk.proposed()
    assert approval.status is S.PENDING
    assert approval.requested_by.name == "agent-ci"
    assert approval.requested_by.token_id == "tok-asker"
    assert approval.requested_by.client == "kubectl-ai 0.0.20"
    assert approval.expires_at == T0 + timedelta(hours=1)
    assert approval.approve_with == f"POST /api/approvals/{approval.id}/approve"
    assert desk.bus.sent == []


async def test_approving_sends_the_exact_command_once_with_the_approval_id(desk):
    desk.bus.replies[SCALE] = {"id": "dep-1", "status": "updating", "replicas": 3}
    approval = await desk.proposed()
    done = await desk.desk.approve(approval.id, APPROVER, ApprovalDecision(reason="ok"))
    assert desk.bus.sent == [(SCALE, {"id": "dep-1", "replicas": 3}, approval.id)]
    assert (done.status, done.decided_by, done.reason) == (S.EXECUTED, "alice", "ok")
    assert done.result == {"id": "dep-1", "status": "updating", "replicas": 3}
    assert (await desk.desk.get(approval.id)).status is S.EXECUTED
    with pytest.raises(Conflict, match="is executed"):
        await desk.desk.approve(approval.id, APPROVER, ApprovalDecision())
    assert len(desk.bus.sent) == 1


async def test_the_requester_approving_is_refused_and_nothing_is_sent(desk):
    approval = await desk.proposed()
    with pytest.raises(Forbidden):
        await desk.desk.approve(approval.id, ASKER, ApprovalDecision())
    assert desk.bus.sent == []
    assert (await desk.desk.get(approval.id)).status is S.PENDING


async def test_a_refused_command_leaves_the_approval_failed_with_the_services_error(desk):
    desk.bus.replies[SCALE] = Conflict("deployment 'web' is updating")
    approval = await desk.proposed()
    done = await desk.desk.approve(approval.id, APPROVER, ApprovalDecision())
    assert done.status is S.FAILED
    assert done.error == {"code": "conflict", "message": "deployment 'web' is updating"}
    [entry] = desk.audit.entries
    assert (entry.responseStatus.status, entry.responseStatus.reason) == ("Failure", "conflict")


async def test_rejecting_sends_nothing_and_the_requester_may_withdraw(desk):
    first, second = await desk.proposed(), await desk.proposed()
    rejected = await desk.desk.reject(first.id, APPROVER, ApprovalDecision(reason="not now"))
    withdrawn = await desk.desk.reject(second.id, ASKER, ApprovalDecision())
    assert (rejected.status, rejected.reason) == (S.REJECTED, "not now")
    assert withdrawn.status is S.REJECTED
    assert desk.bus.sent == []
    with pytest.raises(Conflict, match="is rejected"):
        await desk.desk.approve(first.id, APPROVER, ApprovalDecision())


async def test_an_approval_past_its_expiry_is_expired_on_read_and_cannot_be_approved(desk):
    approval = await desk.proposed()
    desk.clock.now = approval.expires_at
    with pytest.raises(Conflict, match="is expired") as refused:
        await desk.desk.approve(approval.id, APPROVER, ApprovalDecision())
    assert refused.value.details == {"current_status": "expired"}
    assert (await desk.desk.get(approval.id)).status is S.EXPIRED
    [entry] = desk.audit.entries
    assert (entry.verb, entry.annotations["slipway.io/approval-id"]) == ("expire", approval.id)
    assert desk.bus.sent == []


async def test_the_sweep_expires_overdue_ones_so_the_pending_list_is_right(desk):
    old = await desk.proposed()
    desk.clock.now = T0 + timedelta(minutes=59)
    young = await desk.proposed()
    desk.clock.now = T0 + timedelta(hours=1)
    await desk.desk.sweep()
    assert desk.store.approvals[old.id].status is S.EXPIRED
    pending_ids = [a.id for a in (await desk.desk.list(S.PENDING))[0]]
    assert pending_ids == [young.id]


async def test_an_approved_command_the_bus_could_not_take_is_sent_by_the_sweep(desk):
    desk.bus.replies[SCALE] = Unavailable("no service is answering")
    approval = await desk.proposed()
    stuck = await desk.desk.approve(approval.id, APPROVER, ApprovalDecision())
    assert stuck.status is S.APPROVED
    desk.bus.replies[SCALE] = {"id": "dep-1", "status": "updating"}
    await desk.desk.sweep()  # too soon: the first send may still be on its way
    assert desk.store.approvals[approval.id].status is S.APPROVED
    desk.clock.now = T0 + timedelta(seconds=31)
    await desk.desk.sweep()
    assert desk.store.approvals[approval.id].status is S.EXECUTED
    assert [c for _, _, c in desk.bus.sent] == [approval.id, approval.id]


class SlowReads(InMemoryApprovalStore):
    """A store whose reads let other tasks run before they answer (as a round trip does)."""

    async def get(self, approval_id: str) -> Approval | None:
        approval = self.approvals.get(approval_id)
        await asyncio.sleep(0)
        return approval


async def test_of_two_approvers_racing_one_sends_and_the_other_gets_a_409(desk):
    desk.desk.store = desk.store = SlowReads()
    approval = await desk.proposed()
    bob = Principal("bob", Role.OPERATOR, "tok-bob")
    outcomes = await asyncio.gather(
        desk.desk.approve(approval.id, APPROVER, ApprovalDecision()),
        desk.desk.approve(approval.id, bob, ApprovalDecision()),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Approval", "ApprovalConflict"]
    assert len(desk.bus.sent) == 1


async def test_the_execution_entry_links_requester_approver_and_entity(desk):
    approval = await desk.proposed()
    await desk.desk.approve(approval.id, APPROVER, ApprovalDecision())
    [entry] = desk.audit.entries
    assert entry.user.username == "agent-ci"
    assert entry.verb == "scale"
    assert (entry.objectRef.resource, entry.objectRef.name) == ("deployment", "dep-1")
    assert entry.objectRef.namespace == "default"
    assert entry.annotations == {
        "slipway.io/via": "approval",
        "slipway.io/approval-id": approval.id,
        "slipway.io/approved-by": "alice",
    }
    assert entry.responseStatus.status == "Success"


async def test_a_proposal_whose_subject_is_no_command_of_its_entity_is_refused(desk):
    for subject in ("slipway.deployment.query.get", "slipway.service.cmd.scale", "x"):
        with pytest.raises(InvalidInput, match="subject"):
            await desk.proposed(scale().model_copy(update={"subject": subject}))
    assert desk.store.approvals == {}


async def test_an_unknown_approval_is_not_found(desk):
    with pytest.raises(NotFound):
        await desk.desk.approve("nope", APPROVER, ApprovalDecision())


async def test_what_is_shown_hides_credentials_but_what_is_sent_has_them(desk):
    command = scale(registry_auth={"username": "u", "password": "hunter2"})
    approval = await desk.proposed(command)
    assert "hunter2" not in approval.model_dump_json()
    assert "hunter2" not in (await desk.desk.get(approval.id)).model_dump_json()
    await desk.desk.approve(approval.id, APPROVER, ApprovalDecision())
    [(_, sent, _)] = desk.bus.sent
    assert sent["registry_auth"]["password"] == "hunter2"
    assert "hunter2" not in desk.audit.entries[0].model_dump_json()


async def test_each_change_of_status_is_an_event_and_one_nats_refused_comes_later(desk):
    approval = await desk.proposed()
    await desk.desk.approve(approval.id, APPROVER, ApprovalDecision())
    assert desk.events.published == [
        ("slipway.events.approval.pending", None),
        ("slipway.events.approval.approved", "pending"),
        ("slipway.events.approval.executed", "approved"),
    ]
    desk.events.published.clear()
    desk.events.down = True
    withdrawn = await desk.proposed()
    await desk.desk.reject(withdrawn.id, ASKER, ApprovalDecision())
    assert desk.events.published == []
    desk.events.down = False
    await desk.desk.sweep()
    assert desk.events.published == [("slipway.events.approval.rejected", None)]
    await desk.desk.sweep()
    assert len(desk.events.published) == 1
