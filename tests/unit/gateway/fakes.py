"""In-memory stand-ins of the gateway's ports for unit tests: the approval store (with
MongoDB's promise that a stale revision does not write), the command bus (what was sent,
and a reply per subject) and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slipway_contracts.access import AuditEvent
from slipway_contracts.approvals import Approval, ApprovalStatus
from slipway_libs.errors import NotFound, SlipwayError, Unavailable


class InMemoryApprovalStore:
    def __init__(self) -> None:
        self.approvals: dict[str, Approval] = {}
        self.payloads: dict[str, dict[str, Any]] = {}
        self.announced_at: dict[str, int] = {}

    async def add(self, approval: Approval, payload: dict[str, Any]) -> Approval:
        self.approvals[approval.id] = approval
        self.payloads[approval.id] = payload
        return approval

    async def get(self, approval_id: str) -> Approval | None:
        return self.approvals.get(approval_id)

    async def payload(self, approval_id: str) -> dict[str, Any]:
        if approval_id not in self.payloads:
            raise NotFound(approval_id)
        return self.payloads[approval_id]

    async def replace(self, approval: Approval, expected_revision: int) -> bool:
        stored = self.approvals.get(approval.id)
        if stored is None or stored.revision != expected_revision:
            return False
        self.approvals[approval.id] = approval
        return True

    async def page(
        self, status: ApprovalStatus | None, cursor: str | None, limit: int
    ) -> tuple[list[Approval], str | None]:
        items = [a for a in self.approvals.values() if status is None or a.status is status]
        items.sort(key=lambda a: (a.created_at, a.id))
        start = int(cursor) if cursor else 0
        more = len(items) > start + limit
        return items[start : start + limit], str(start + limit) if more else None

    async def overdue(self, now: datetime) -> list[Approval]:
        return [
            a
            for a in self.approvals.values()
            if a.status is ApprovalStatus.PENDING and a.expires_at <= now
        ]

    async def unsettled(self, decided_before: datetime) -> list[Approval]:
        return [
            a
            for a in self.approvals.values()
            if a.status is ApprovalStatus.APPROVED
            and a.decided_at is not None
            and a.decided_at <= decided_before
        ]

    async def unannounced(self) -> list[Approval]:
        return [a for a in self.approvals.values() if self.announced_at.get(a.id, 0) < a.revision]

    async def announced(self, approval: Approval) -> None:
        previous = self.announced_at.get(approval.id, 0)
        self.announced_at[approval.id] = max(previous, approval.revision)


class FakeEvents:
    """Keeps `(subject, previous status)` of each event; `down`: NATS refuses them."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str | None]] = []
        self.down = False

    async def announce(self, approval: Approval, previous_status: str | None) -> None:
        if self.down:
            raise Unavailable("the message bus (NATS) is unavailable")
        self.published.append((f"slipway.events.approval.{approval.status}", previous_status))


class FakeBus:
    """Answers each command with `replies[subject]` (an error is raised); `sent` holds
    `(subject, payload, command_id)` of every request."""

    def __init__(self) -> None:
        self.replies: dict[str, Any] = {}
        self.sent: list[tuple[str, Any, str | None]] = []

    async def request(
        self, subject: str, payload: dict[str, Any] | bytes, command_id: str | None = None
    ) -> Any:
        self.sent.append((subject, payload, command_id))
        reply = self.replies.get(subject, {"id": "entity-1"})
        if isinstance(reply, SlipwayError):
            raise reply
        return reply


class FakeAuditLog:
    def __init__(self) -> None:
        self.entries: list[AuditEvent] = []

    async def record(self, entry: AuditEvent) -> None:
        if all(e.auditID != entry.auditID for e in self.entries):
            self.entries.append(entry)
