"""The MCP tools against in-memory stand-ins of the bus, the audit log and the approval desk:
the catalogue made from the REST declarations, who sees which tool in which mode, and
what a call sends, proposes and audits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from slipway_contracts.access import AuditEvent, Role
from slipway_contracts.advice import AdviseDockerfile, DiagnoseDeployment
from slipway_contracts.approvals import Approval, ApprovalStatus, ProposedCommand, Requester
from slipway_contracts.commands import ScaleDeployment
from slipway_gateway.access.identity import Principal
from slipway_gateway.mcp.calls import Caller, ToolCalls, visible
from slipway_gateway.mcp.tools import catalogue

TOOLS = catalogue()
VIEWER = Principal("agent-viewer", Role.VIEWER, "t-1")
OPERATOR = Principal("agent", Role.OPERATOR, "t-2")
SCOPED = Principal("team-a", Role.OPERATOR, "t-3", namespaces=("team-a",))
DEPLOYMENT = {"id": "d-1", "name": "web", "namespace": "default", "revision": 4, "replicas": 1}


class FakeBus:
    """Answers queries from `entities`; commands answer their payload; keeps every request."""

    max_payload = 1024 * 1024  # NATS's default

    def __init__(self, entities: dict[str, dict[str, Any]]) -> None:
        self.entities = entities
        self.sent: list[tuple[str, dict[str, Any], str | None]] = []

    async def request(
        self, subject: str, payload: dict[str, Any] | bytes, command_id: str | None = None
    ) -> Any:
        if isinstance(payload, bytes):
            payload = json.loads(payload)
        self.sent.append((subject, payload, command_id))
        if subject.endswith(".query.get"):
            return self.entities[payload["id"]]
        if subject.endswith(".query.list"):
            return {"items": list(self.entities.values()), "next_cursor": None}
        return {**self.entities.get(payload.get("id", ""), {}), **payload}

    @property
    def commands(self) -> list[str]:
        return [subject for subject, _, _ in self.sent if ".cmd." in subject]


class FakeAuditLog:
    def __init__(self) -> None:
        self.entries: list[AuditEvent] = []

    async def ping(self) -> None:
        return None

    async def record(self, entry: AuditEvent) -> None:
        self.entries.append(entry)


class FakeApprovals:
    """The approval desk's `propose`, keeping what it was given."""

    def __init__(self) -> None:
        self.proposed: list[tuple[ProposedCommand, Principal, str | None]] = []

    async def propose(
        self, proposal: ProposedCommand, principal: Principal, client: str | None
    ) -> Approval:
        self.proposed.append((proposal, principal, client))
        now = datetime.now(UTC)
        return Approval(
            id="a-1",
            status=ApprovalStatus.PENDING,
            command=proposal,
            requested_by=Requester(name=principal.name, token_id=principal.token_id, client=client),
            created_at=now,
            expires_at=now + timedelta(hours=1),
            last_updated=now,
            approve_with="POST /api/approvals/a-1/approve",
        )


class FakeExplainer:
    """The language model's `explained`, writing what it was asked to explain."""

    async def explained(self, kind: str, answer: dict[str, Any]) -> dict[str, Any]:
        return {**answer, "explanation": f"a {kind}", "explanation_note": None}


def calls(
    mode: str, bus: FakeBus | None = None
) -> tuple[ToolCalls, FakeBus, FakeAuditLog, FakeApprovals]:
    bus = bus or FakeBus({"d-1": DEPLOYMENT})
    audit, approvals = FakeAuditLog(), FakeApprovals()
    tool_calls = ToolCalls(TOOLS, bus, audit, mode, approvals, FakeExplainer())  # type: ignore[arg-type]
    return tool_calls, bus, audit, approvals


def test_every_entity_has_read_tools_and_change_tools_carry_the_contracts_schema():
    for noun in ("image", "chart", "cluster", "deployment", "service", "release"):
        assert TOOLS[f"get_{noun}"].read_only and TOOLS[f"list_{noun}s"].read_only
    scale = TOOLS["scale_deployment"]
    assert scale.spec().input_schema == ScaleDeployment.model_json_schema()
    assert scale.subject == "slipway.deployment.cmd.scale"
    hints = TOOLS["delete_cluster"].spec().annotations
    assert hints and (hints.read_only_hint, hints.destructive_hint) == (False, True)
    statuses = TOOLS["list_deployments"].spec().input_schema
    assert "running" in json.dumps(statuses)


ADVISOR_TOOLS = {
    "advise_dockerfile": "slipway.container_image.query.advise_dockerfile",
    "advise_build": "slipway.container_image.query.advise_build",
    "diagnose_deployment": "slipway.deployment.query.diagnose",
    "recommend_resources": "slipway.deployment.query.recommend_resources",
    "cluster_health": "slipway.deployment.query.cluster_health",
}


def test_the_advisors_are_read_only_tools_with_the_contracts_schema_and_subject():
    for name, subject in ADVISOR_TOOLS.items():
        tool = TOOLS[name]
        hints = tool.spec().annotations
        assert hints is not None
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint) == (
            True,
            False,
            True,
        )
        assert tool.subject == subject
        assert tool.api_path(None).resource == "advice"
    assert TOOLS["advise_dockerfile"].spec().input_schema == AdviseDockerfile.model_json_schema()
    assert TOOLS["diagnose_deployment"].spec().input_schema == (
        DiagnoseDeployment.model_json_schema()
    )
    names = list(TOOLS)
    last_read = max(names.index(name) for name, tool in TOOLS.items() if tool.read_only)
    assert all(names.index(name) <= last_read for name in ADVISOR_TOOLS)


@pytest.mark.parametrize("mode", ["auto", "approve", "read-only"])
def test_a_viewer_sees_every_advisor_in_every_mode(mode):
    shown = {tool.name for tool in TOOLS.values() if visible(tool, VIEWER, mode)}
    assert set(ADVISOR_TOOLS) <= shown


async def test_an_advisor_asks_as_rest_does_explains_and_is_audited():
    tool_calls, bus, audit, _ = calls("read-only")
    outcome = await tool_calls.call("diagnose_deployment", {"id": "d-1"}, Caller(VIEWER))
    assert outcome.error is None
    assert bus.sent == [("slipway.deployment.query.diagnose", {"id": "d-1"}, None)]
    assert outcome.data["explanation"] == "a deployment troubleshooting"
    (entry,) = audit.entries
    assert entry.verb == "diagnose_deployment" and entry.responseStatus.code == 200
    assert entry.objectRef is not None
    assert (entry.objectRef.resource, entry.objectRef.name) == ("advice", "d-1")
    bad = await tool_calls.call("advise_dockerfile", {"context": ""}, Caller(VIEWER))
    assert bad.error is not None and "context" in bad.error.message
    assert len(bus.sent) == 1


@pytest.mark.parametrize(
    ("principal", "mode", "changes"),
    [
        (VIEWER, "auto", False),
        (OPERATOR, "approve", True),
        (OPERATOR, "auto", True),
        (OPERATOR, "read-only", False),
    ],
)
def test_a_session_sees_the_tools_its_role_and_the_mode_allow(principal, mode, changes):
    shown = {tool.name for tool in TOOLS.values() if visible(tool, principal, mode)}
    assert "get_deployment" in shown
    assert ("scale_deployment" in shown) is changes


async def test_approve_mode_proposes_the_exact_command_and_sends_nothing():
    tool_calls, bus, audit, approvals = calls("approve")
    caller = Caller(OPERATOR, client="kubectl-ai 0.0.20")
    outcome = await tool_calls.call("scale_deployment", {"id": "d-1", "replicas": 3}, caller)
    assert outcome.error is None and bus.commands == []
    [(proposal, principal, client)] = approvals.proposed
    assert (principal, client) == (OPERATOR, "kubectl-ai 0.0.20")
    assert proposal.subject == "slipway.deployment.cmd.scale"
    assert proposal.payload == {"id": "d-1", "replicas": 3, "expected_revision": None}
    assert (proposal.entity, proposal.entity_id, proposal.namespace) == (
        "deployment",
        "d-1",
        "default",
    )
    assert proposal.summary == "scale deployment 'web' (replicas=3)"
    assert "POST /api/approvals/a-1/approve" in outcome.data["message"]
    [entry] = audit.entries
    assert entry.verb == "scale_deployment" and entry.responseStatus.code == 202
    assert entry.annotations == {
        "slipway.io/via": "mcp",
        "slipway.io/role": "operator",
        "slipway.io/mcp-client": "kubectl-ai 0.0.20",
        "slipway.io/approval-id": "a-1",
    }


async def test_a_proposed_build_keeps_its_registry_password_out_of_the_arguments_and_audit():
    tool_calls, _, audit, approvals = calls("approve")
    arguments = {
        "name": "web",
        "tag": "1.0.0",
        "application": "backend",
        "repository": "127.0.0.1:5000/web",
        "build": {"context": "hello-server"},
        "registry_auth": {"username": "ci", "password": "s3cret-pa55"},
    }
    outcome = await tool_calls.call("build_image", arguments, Caller(OPERATOR))
    assert outcome.error is None
    [(proposal, _, _)] = approvals.proposed
    assert "registry_auth" not in proposal.arguments
    assert proposal.payload["registry_auth"]["password"] == "s3cret-pa55"
    assert "s3cret" not in proposal.summary
    assert "s3cret" not in audit.entries[0].model_dump_json()


async def test_auto_mode_sends_the_command_with_a_fresh_id_and_answers_the_entity():
    tool_calls, bus, audit, _ = calls("auto")
    outcome = await tool_calls.call(
        "scale_deployment", {"id": "d-1", "replicas": 3}, Caller(OPERATOR)
    )
    assert outcome.data["replicas"] == 3
    [(subject, payload, command_id)] = [sent for sent in bus.sent if ".cmd." in sent[0]]
    assert (subject, payload["replicas"]) == ("slipway.deployment.cmd.scale", 3)
    assert command_id
    assert audit.entries[0].objectRef and audit.entries[0].objectRef.subresource == "scale"


async def test_read_only_mode_refuses_a_crafted_change_and_audits_the_refusal():
    tool_calls, bus, audit, approvals = calls("read-only")
    outcome = await tool_calls.call("delete_deployment", {"id": "d-1"}, Caller(OPERATOR))
    assert outcome.error is not None and "read-only" in outcome.error.message
    assert bus.commands == [] and approvals.proposed == []
    assert audit.entries[0].responseStatus.status == "Failure"


async def test_a_viewer_calling_a_change_is_refused_naming_the_role():
    tool_calls, bus, _, _ = calls("auto")
    outcome = await tool_calls.call(
        "scale_deployment", {"id": "d-1", "replicas": 2}, Caller(VIEWER)
    )
    assert outcome.error is not None and outcome.error.http_status == 403
    assert "operator" in outcome.error.message and bus.commands == []


async def test_a_scoped_token_changes_nothing_outside_its_namespaces():
    tool_calls, bus, _, approvals = calls("auto")
    outcome = await tool_calls.call(
        "scale_deployment", {"id": "d-1", "replicas": 2}, Caller(SCOPED)
    )
    assert outcome.error is not None and "team-a" in outcome.error.message
    assert bus.commands == [] and approvals.proposed == []


async def test_bad_arguments_name_the_field_and_the_rule():
    tool_calls, bus, audit, _ = calls("auto")
    outcome = await tool_calls.call(
        "scale_deployment", {"id": "d-1", "replicas": 0}, Caller(OPERATOR)
    )
    assert outcome.error is not None
    assert outcome.error.message.endswith("replicas: Input should be greater than or equal to 1")
    assert bus.sent == [] and audit.entries[0].responseStatus.code == 422


async def test_an_unknown_tool_is_refused_and_audited():
    tool_calls, _, audit, _ = calls("auto")
    outcome = await tool_calls.call("format_disk", {}, Caller(OPERATOR))
    assert outcome.error is not None and outcome.error.http_status == 404
    assert audit.entries[0].verb == "format_disk"


async def test_a_chart_too_large_for_the_bus_is_refused_before_it_is_sent():
    tool_calls, bus, audit, _ = calls("auto")
    arguments = {
        "name": "big",
        "version": "0.1.0",
        "app_version": "1.0",
        "source": {"archive": "A" * (2 * 1024 * 1024)},
    }
    outcome = await tool_calls.call("validate_chart", arguments, Caller(OPERATOR))
    assert outcome.error is not None and outcome.error.message.startswith("source.archive")
    assert bus.commands == [] and audit.entries[0].responseStatus.code == 422


class BrokenBus(FakeBus):
    async def request(self, subject: str, payload: Any, command_id: str | None = None) -> Any:
        raise RuntimeError("connection reset")


async def test_a_call_that_breaks_inside_the_gateway_is_still_audited():
    tool_calls, _, audit, _ = calls("auto", BrokenBus({}))
    outcome = await tool_calls.call("list_images", {}, Caller(VIEWER))
    assert outcome.error is not None and "connection reset" not in outcome.error.message
    assert audit.entries[0].responseStatus.code == 500
