"""The approval desk: the use cases of approvals. An agent's change (an MCP tool call in
`approve` mode) is proposed and waits, pending; a human with an operator token who did not
ask for it approves it (then, only then, its command is sent, with the approval's id as its
command id) or rejects it; undecided, it expires.

The command id makes sending safe to repeat: the owning service answers a repeated command
with the reply it kept, so an approval left `approved` by a gateway that stopped before the
outcome was stored is sent again by the sweep (at start-up, then every
`approval_sweep_interval_s`), and nothing runs twice. The sweep also expires pending
approvals past `expires_at` (reads and decisions do it too, so no answer shows one pending).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from slipway_contracts.access import AuditEvent
from slipway_contracts.approvals import (
    Approval,
    ApprovalDecision,
    ApprovalStatus,
    ProposedCommand,
)
from slipway_gateway.access import approvals as rules
from slipway_gateway.access.approvals import Decision
from slipway_gateway.access.audit_entries import execution_entry, expiry_entry
from slipway_gateway.access.identity import Principal
from slipway_libs.errors import NotFound, SlipwayError, Unavailable
from slipway_libs.runtime import cancelled

log = logging.getLogger(__name__)
S = ApprovalStatus


class Store(Protocol):
    """Where approvals are kept (`adapters.approval_store.ApprovalStore`)."""

    async def add(self, approval: Approval, payload: dict[str, Any]) -> Approval: ...
    async def get(self, approval_id: str) -> Approval | None: ...
    async def payload(self, approval_id: str) -> dict[str, Any]: ...
    async def replace(self, approval: Approval, expected_revision: int) -> bool: ...
    async def page(
        self, status: ApprovalStatus | None, cursor: str | None, limit: int
    ) -> tuple[list[Approval], str | None]: ...
    async def overdue(self, now: datetime) -> list[Approval]: ...
    async def unsettled(self, decided_before: datetime) -> list[Approval]: ...
    async def unannounced(self) -> list[Approval]: ...
    async def announced(self, approval: Approval) -> None: ...


class Sender(Protocol):
    """Sends a command and returns the reply's data (`adapters.bus.CommandBus`)."""

    async def request(
        self, subject: str, payload: dict[str, Any] | bytes, command_id: str | None = None
    ) -> Any: ...


class AuditLog(Protocol):
    async def record(self, entry: AuditEvent) -> None: ...


class Announcer(Protocol):
    """Publishes an approval's event (`adapters.approval_events.ApprovalEvents`)."""

    async def announce(self, approval: Approval, previous_status: str | None) -> None: ...


def utc_now() -> datetime:
    """Now, to the millisecond (as MongoDB keeps it: an answer matches later reads)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class ApprovalDesk:
    def __init__(
        self,
        store: Store,
        bus: Sender,
        audit_log: AuditLog,
        ttl_s: float,
        *,
        events: Announcer | None = None,
        sweep_interval_s: float = 15.0,
        settle_s: float = 30.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`ttl_s`: how long a proposal waits for a decision; `settle_s`: how long after its
        approval a command with no outcome stored is taken as lost and sent again."""
        self.store = store
        self.bus = bus
        self.audit_log = audit_log
        self.events = events
        self.ttl = timedelta(seconds=ttl_s)
        self.sweep_interval_s = sweep_interval_s
        self.settle = timedelta(seconds=settle_s)
        self.clock = clock
        self._sweeper: asyncio.Task[None] | None = None

    # --- use cases -----------------------------------------------------------------------

    async def propose(
        self, proposal: ProposedCommand, principal: Principal, client: str | None
    ) -> Approval:
        """Hold `proposal` for a human's yes: a pending approval; nothing is sent.
        InvalidInput when its subject is not a command of its entity."""
        rules.check_proposal(proposal)
        approval = rules.new_approval(
            str(uuid.uuid4()),
            proposal,
            rules.requester_of(principal, client),
            self.clock(),
            self.ttl,
        )
        added = await self.store.add(approval, proposal.payload)
        await self._announce(added, None)
        return added

    async def list(
        self, status: ApprovalStatus | None = None, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[Approval], str | None]:
        """Approvals oldest first (of one status), and the next page's cursor."""
        await self.expire_overdue()
        return await self.store.page(status, cursor, limit)

    async def get(self, approval_id: str) -> Approval:
        """One approval (NotFound when there is none); expired if its time has passed."""
        approval = await self._read(approval_id)
        if not rules.is_overdue(approval, self.clock()):
            return approval
        with contextlib.suppress(rules.ApprovalConflict):
            return await self._expire(approval)
        return await self._read(approval_id)  # another gateway expired (or decided) it first

    async def approve(
        self, approval_id: str, principal: Principal, decision: ApprovalDecision
    ) -> Approval:
        """Approve, then send the command: the approval as its outcome left it (`executed`,
        `failed`, or still `approved` while the bus is down: the sweep sends it later)."""
        approved = await self._decide(approval_id, principal, decision, Decision.APPROVE)
        return await self._execute(approved)

    async def reject(
        self, approval_id: str, principal: Principal, decision: ApprovalDecision
    ) -> Approval:
        """Reject: nothing is ever sent. The requester may reject (withdraw) their own."""
        return await self._decide(approval_id, principal, decision, Decision.REJECT)

    async def expire_overdue(self) -> int:
        """Expire every pending approval past its `expires_at`; how many were."""
        expired = 0
        for approval in await self.store.overdue(self.clock()):
            with contextlib.suppress(rules.ApprovalConflict):
                await self._expire(approval)
                expired += 1
        return expired

    async def send_unsettled(self) -> int:
        """Send again each approved command whose outcome was never stored; how many."""
        sent = 0
        for approval in await self.store.unsettled(self.clock() - self.settle):
            await self._execute(approval)
            sent += 1
        return sent

    # --- the periodic sweep ----------------------------------------------------------------

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="approval-sweep")

    async def stop(self) -> None:
        await cancelled(self._sweeper)

    async def sweep(self) -> None:
        """Expire what is overdue; send again what was approved and never settled; publish
        the events not published yet (NATS was down)."""
        await self.expire_overdue()
        await self.send_unsettled()
        for approval in await self.store.unannounced() if self.events else []:
            await self._announce(approval, None)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except SlipwayError as exc:
                log.warning("approval sweep paused", extra={"error": exc.message})
            except Exception:
                log.warning("approval sweep failed; going on", exc_info=True)
            await asyncio.sleep(self.sweep_interval_s)

    # --- steps -----------------------------------------------------------------------------

    async def _read(self, approval_id: str) -> Approval:
        approval = await self.store.get(approval_id)
        if approval is None:
            raise NotFound(f"approval '{approval_id}' does not exist")
        return approval

    async def _decide(
        self,
        approval_id: str,
        principal: Principal,
        decision: ApprovalDecision,
        verdict: Decision,
    ) -> Approval:
        current = await self.get(approval_id)
        rules.check_may_decide(current, principal, verdict)
        now = self.clock()
        target = S.APPROVED if verdict is Decision.APPROVE else S.REJECTED
        decided = rules.move(
            current,
            target,
            now,
            decided_by=principal.name,
            decided_at=now,
            reason=decision.reason,
        )
        return await self._save(decided, current.revision, current.status)

    async def _expire(self, approval: Approval) -> Approval:
        moved = rules.move(approval, S.EXPIRED, self.clock())
        expired = await self._save(moved, approval.revision, approval.status)
        log.info("approval expired", extra={"approval_id": expired.id})
        await self._record(expiry_entry(expired))
        return expired

    async def _execute(self, approved: Approval) -> Approval:
        """Send the approved command with the approval's id as command id; keep its outcome."""
        command = approved.command
        try:
            payload = await self.store.payload(approved.id)
            result = await self.bus.request(command.subject, payload, command_id=approved.id)
        except Unavailable as exc:
            log.warning(
                "approved command not sent yet; the sweep sends it again",
                extra={"approval_id": approved.id, "error": exc.message},
            )
            return approved
        except SlipwayError as exc:
            error = {"code": exc.code, "message": exc.message}
            outcome = rules.move(approved, S.FAILED, self.clock(), error=error)
        else:
            entity = result if isinstance(result, dict) else {"data": result}
            shown = rules.redact_secrets(entity)
            outcome = rules.move(approved, S.EXECUTED, self.clock(), result=shown)
        try:
            settled = await self._save(outcome, approved.revision, approved.status)
        except rules.ApprovalConflict:  # another replica settled it with the same reply
            return await self._read(approved.id)
        await self._record(execution_entry(settled, settled.last_updated))
        return settled

    async def _save(
        self, changed: Approval, expected_revision: int, previous: ApprovalStatus
    ) -> Approval:
        """Store a move (and announce it), or ApprovalConflict naming the status another
        writer left."""
        if await self.store.replace(changed, expected_revision):
            await self._announce(changed, str(previous))
            return changed
        now_stored = await self.store.get(changed.id)
        status = now_stored.status if now_stored else "gone"
        raise rules.ApprovalConflict(
            f"approval '{changed.id}' was changed meanwhile: it is {status}",
            {"current_status": str(status)},
        )

    async def _announce(self, approval: Approval, previous_status: str | None) -> None:
        """Publish the approval's event; left to the sweep when NATS cannot take it now."""
        if self.events is None:
            return
        try:
            await self.events.announce(approval, previous_status)
            await self.store.announced(approval)
        except Exception as exc:  # the change stands; the sweep publishes its event
            log.warning(
                "approval event not published yet",
                extra={"approval_id": approval.id, "error": repr(exc)},
            )

    async def _record(self, entry: AuditEvent) -> None:
        """Keep an audit entry; when MongoDB refuses it, the entry goes to the log, whole
        (it holds no body and no credential): the change it records has been made."""
        try:
            await self.audit_log.record(entry)
        except Unavailable:
            log.error("audit entry not stored", extra={"audit": entry.model_dump(mode="json")})
