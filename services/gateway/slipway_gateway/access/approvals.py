"""The rules of approvals, with no I/O: how an approval's status moves (one transition table,
one guard that raises), when a pending one has expired, who may decide it, and what of a
proposed command may be shown (never a credential).

    pending ──approve──▶ approved ──the service accepts──▶ executed
       │                     └────the service refuses───▶ failed
       ├──reject──▶ rejected
       └──expires_at passed──▶ expired
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from slipway_contracts.approvals import Approval, ApprovalStatus, ProposedCommand, Requester
from slipway_gateway.access.identity import Principal
from slipway_gateway.access.rules import Forbidden, check_namespace
from slipway_libs.errors import Conflict, InvalidInput
from slipway_libs.statemachine import IllegalTransition, TransitionTable

S = ApprovalStatus
TRANSITIONS = TransitionTable.of(
    "approval",
    [
        (S.PENDING, S.APPROVED),
        (S.PENDING, S.REJECTED),
        (S.PENDING, S.EXPIRED),
        (S.APPROVED, S.EXECUTED),
        (S.APPROVED, S.FAILED),
    ],
)
# Keys whose values are credentials: shown as REDACTED in an approval, kept sealed to send
# (`registry_auth`, `password`, `kubeconfig_data`, `api_key`, `Authorization`, ...).
SECRET_KEY = re.compile(
    r"pass(word|wd)|secret|token|credential|kubeconfig|(^|_)auth(orization)?($|_)"
    r"|api_?key|private_?key",
    re.I,
)
REDACTED = "[redacted]"
# A longer text (a chart archive, in base64) is shown by its length only; it is sent whole.
SHOWN_CHARS = 2000


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ApprovalConflict(Conflict):
    """A move the approval's status does not allow (409, naming the current status)."""


def move(approval: Approval, target: ApprovalStatus, now: datetime, **changes: Any) -> Approval:
    """The approval in status `target` (revision bumped), or ApprovalConflict when its
    current status does not allow the move. The only place an approval's status changes."""
    try:
        TRANSITIONS.guard(approval.status, target)
    except IllegalTransition:
        raise ApprovalConflict(
            f"approval '{approval.id}' is {approval.status}; it cannot become {target} "
            "(only a pending approval is approved, rejected or expires)",
            {"current_status": str(approval.status)},
        ) from None
    return approval.model_copy(
        update={
            **changes,
            "status": target,
            "last_updated": now,
            "revision": approval.revision + 1,
            "approve_with": None,
        }
    )


def check_proposal(command: ProposedCommand) -> None:
    """InvalidInput unless the command's subject is a command of its entity,
    `slipway.<entity>.cmd.<action>`."""
    parts = command.subject.split(".")
    if len(parts) != 4 or parts[0] != "slipway" or parts[2] != "cmd" or parts[1] != command.entity:
        raise InvalidInput.field(
            "subject", f"is not a command of entity {command.entity}: slipway.<entity>.cmd.<action>"
        )


def is_overdue(approval: Approval, now: datetime) -> bool:
    """Whether a pending approval's time to be decided has passed (it is then expired)."""
    return approval.status is S.PENDING and approval.expires_at <= now


def new_approval(
    approval_id: str,
    command: ProposedCommand,
    requester: Requester,
    now: datetime,
    ttl: timedelta,
) -> Approval:
    """A pending approval of `command` (as shown: its credentials redacted)."""
    return Approval(
        id=approval_id,
        status=S.PENDING,
        command=redacted(command),
        requested_by=requester,
        created_at=now,
        expires_at=now + ttl,
        last_updated=now,
        approve_with=f"POST /api/approvals/{approval_id}/approve",
    )


def requester_of(principal: Principal, client: str | None) -> Requester:
    return Requester(
        name=principal.name,
        token_id=principal.token_id,
        role=str(principal.role) if principal.role else None,
        client=client,
    )


def is_requester(approval: Approval, principal: Principal) -> bool:
    """Whether `principal` is who asked: the same token, or a token of the same name."""
    asked = approval.requested_by
    same_token = asked.token_id is not None and asked.token_id == principal.token_id
    return same_token or asked.name == principal.name


def check_may_decide(approval: Approval, principal: Principal, decision: Decision) -> None:
    """Forbidden unless `principal` may make `decision`: nobody approves their own request
    (withdrawing it, rejecting, is allowed), and a token scoped to namespaces decides only
    changes there."""
    command = approval.command
    check_namespace(principal, command.entity, command.namespace)
    if decision is Decision.APPROVE and is_requester(approval, principal):
        raise Forbidden(
            f"token '{principal.name}' asked for this change and cannot approve it: another "
            "operator must (the rule: whoever asked does not approve)",
            {"rule": "no-self-approval", "requested_by": approval.requested_by.name},
        )


def redacted(command: ProposedCommand) -> ProposedCommand:
    """The command as it may be shown: every credential's value replaced by REDACTED, a
    very long text by its length."""
    return command.model_copy(
        update={
            "arguments": redact_secrets(command.arguments),
            "payload": redact_secrets(command.payload),
        }
    )


def redact_secrets(value: Any) -> Any:
    """`value` with the values of credential-named keys (SECRET_KEY), at any depth, hidden."""
    if isinstance(value, dict):
        return {
            key: REDACTED
            if SECRET_KEY.search(str(key)) and value_given(item)
            else redact_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return f"[{len(value)} characters, not shown]"
    return value


def value_given(value: Any) -> bool:
    return value is not None and value != "" and value != {}
