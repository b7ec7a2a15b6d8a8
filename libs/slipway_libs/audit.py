"""The audit of commands received over NATS: once a worker has answered a command, one
`AuditEvent` goes to `slipway.audit.<service>` (SLIPWAY_AUDIT) naming who sent it (the principal
whose signature checks, else `nats:unverified`), what it was about and how it ended; never its
body. An entry that cannot be stored is logged; the command stands.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from faststream import BaseMiddleware, ContextRepo, Response
from faststream.message import StreamMessage
from faststream.nats import JStream, NatsBroker
from faststream.nats.publisher.usecase import LogicPublisher

from slipway_contracts import subjects
from slipway_contracts.access import AuditEvent, AuditObjectRef, AuditResponseStatus, AuditUser
from slipway_keys.principals import PRINCIPAL_HEADER, Verifier
from slipway_libs import context

log = logging.getLogger(__name__)

# Records each API call itself (with the token that made it): its commands are not recorded.
SELF_AUDITING = frozenset({"gateway"})


class CommandAudit:
    """The middleware recording the commands a worker receives (outside the error replies)."""

    def __init__(self, service: str, principals_file: Path | None) -> None:
        self.service = service
        self.principals_file = principals_file
        self._publisher: LogicPublisher | None = None

    def declare(self, broker: NatsBroker) -> None:
        """Declare `slipway.audit.<service>` on SLIPWAY_AUDIT (it appears in AsyncAPI)."""
        self._publisher = broker.publisher(
            subjects.audit(self.service),
            stream=JStream(subjects.AUDIT_STREAM, declare=False),
            schema=AuditEvent,
            description="Who sent each command this service received over NATS, and how it ended.",
        )

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> CommandAuditMiddleware:
        return CommandAuditMiddleware(msg, context=context, audit=self)

    @functools.cached_property
    def verifier(self) -> Verifier:
        """The principals' public keys, read on first use (none: every sender unverified)."""
        if self.principals_file is not None:
            try:
                return Verifier.from_file(self.principals_file)
            except (OSError, ValueError) as exc:
                extra = {"path": str(self.principals_file), "error": repr(exc)}
                log.warning("principals file unreadable: no sender can be verified", extra=extra)
        return Verifier({})

    def entry(self, msg: Any, received_at: datetime, body: Any, reply: Any) -> AuditEvent | None:
        """The entry of command `msg` (decoded `body`) answered with `reply` (None: not kept)."""
        subject, headers = str(msg.subject), dict(getattr(msg, "headers", None) or {})
        data = getattr(msg, "data", b"") or b""
        command_id = headers.get(context.COMMAND_ID_HEADER)
        principal = self.verifier.verify(subject, command_id, data, headers)
        if principal in SELF_AUDITING:
            return None
        annotations = {"slipway.io/via": "nats"}
        if principal is None and (claimed := headers.get(PRINCIPAL_HEADER)):
            annotations["slipway.io/claimed-principal"] = claimed
        named = body if isinstance(body, dict) else {}
        succeeded = reply.get("ok") is True
        error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
        _, entity, _, action = subject.split(".")
        return AuditEvent(
            auditID=context.new_id(),
            requestURI=subject,
            verb=action,
            user=AuditUser(username=f"nats:{principal or 'unverified'}"),
            objectRef=AuditObjectRef(
                resource=entity,
                name=_text(named.get("id")),
                namespace=_text(named.get("namespace")),
            ),
            responseStatus=AuditResponseStatus(
                status="Success" if succeeded else "Failure",
                reason=None if succeeded else _text(error.get("code")),
            ),
            requestReceivedTimestamp=received_at,
            stageTimestamp=datetime.now(UTC),
            correlationID=headers.get(context.CORRELATION_HEADER),
            annotations=annotations,
        )

    async def record(self, msg: Any, received_at: datetime, body: Any, reply: Any) -> None:
        """Publish the audit entry of command message `msg` (acked by JetStream); never raises."""
        try:
            entry = self.entry(msg, received_at, body, _as_reply(reply))
            if entry is not None and self._publisher is not None:
                await self._publisher.publish(
                    entry.model_dump(mode="json", exclude_none=True),
                    headers={"Nats-Msg-Id": entry.auditID},
                    timeout=2.0,
                )
        except Exception as exc:  # the command stands; only its record is missing
            extra = {"subject": msg.subject, "error": repr(exc)}
            log.warning("audit entry not recorded", extra=extra)


class CommandAuditMiddleware(BaseMiddleware):
    """One message's pass: the reply (error replies too) kept, the entry published after it."""

    def __init__(self, msg: Any, /, *, context: ContextRepo, audit: CommandAudit) -> None:
        super().__init__(msg, context=context)
        self.audit = audit
        self.received_at = datetime.now(UTC)
        self.answer: tuple[Any, Any] | None = None  # the command's decoded body and reply

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        reply = await call_next(msg)
        if is_command(getattr(self.msg, "subject", None)):
            try:
                body = await msg.decode()  # decoded once: the handler's copy
            except Exception:  # a body the handler could not read either (an error reply)
                body = None
            self.answer = (body, reply.body if isinstance(reply, Response) else reply)
        return reply

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        if self.answer is not None:
            await self.audit.record(self.msg, self.received_at, *self.answer)
        return False


def is_command(subject: Any) -> bool:
    """Whether `subject` is a command's, `slipway.<entity>.cmd.<action>`."""
    parts = subject.split(".") if isinstance(subject, str) else []
    return len(parts) == 4 and parts[0] == "slipway" and parts[2] == "cmd"


def _as_reply(reply: Any) -> dict[str, Any]:
    if isinstance(reply, bytes | str):
        with contextlib.suppress(ValueError):
            reply = json.loads(reply)
    return reply if isinstance(reply, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
