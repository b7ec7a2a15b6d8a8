"""The audit of commands received over NATS: after a worker has answered a command
(`slipway.<entity>.cmd.<action>`), one audit entry (contracts `AuditEvent`) goes to
SLIPWAY_AUDIT on `slipway.audit.<service>`, naming who sent it (the principal whose
signature checks, else `nats:unverified`), what it was about and how it ended; never its
body. The gateway signs what it sends and records the API call itself, so its commands are
not recorded twice. An entry that cannot be stored is logged; the command stands.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from faststream import BaseMiddleware, ContextRepo, Response
from faststream.message import StreamMessage
from faststream.nats import JStream, NatsBroker
from faststream.nats.publisher.usecase import LogicPublisher

from slipway_contracts import subjects
from slipway_contracts.access import (
    AuditEvent,
    AuditObjectRef,
    AuditResponseStatus,
    AuditUser,
)
from slipway_libs import context
from slipway_libs.principals import PRINCIPAL_HEADER, Verifier

log = logging.getLogger(__name__)

VIA = "slipway.io/via"
CLAIMED_PRINCIPAL = "slipway.io/claimed-principal"
UNVERIFIED = "nats:unverified"
# Records each API call itself (with the token that made it): its commands are not recorded.
SELF_AUDITING = frozenset({"gateway"})
PUBLISH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Command:
    """A command as received: `slipway.<entity>.cmd.<action>`, its headers and body."""

    subject: str
    entity: str
    action: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime

    @classmethod
    def parse(cls, message: Any) -> Command | None:
        """The command in a NATS message, or None when the message is not one."""
        subject = getattr(message, "subject", None)
        parts = subject.split(".") if isinstance(subject, str) else []
        if len(parts) != 4 or parts[0] != "slipway" or parts[2] != "cmd":
            return None
        headers = getattr(message, "headers", None) or {}
        body = getattr(message, "data", b"") or b""
        return cls(str(subject), parts[1], parts[3], dict(headers), body, datetime.now(UTC))

    @property
    def command_id(self) -> str | None:
        return self.headers.get(context.COMMAND_ID_HEADER)


class CommandAudit:
    """The broker middleware that records the commands a worker receives (give it to
    `NatsBroker(middlewares=…)` before the error replies, then `declare` its publisher)."""

    def __init__(self, service: str, principals_file: Path | None) -> None:
        self.service = service
        self.principals_file = principals_file
        self._verifier: Verifier | None = None
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

    @property
    def verifier(self) -> Verifier:
        """The principals' public keys, read on first use (none: every sender unverified)."""
        if self._verifier is None:
            self._verifier = Verifier({})
            if self.principals_file is not None:
                try:
                    self._verifier = Verifier.from_file(self.principals_file)
                except (OSError, ValueError) as exc:
                    log.warning(
                        "principals file unreadable: no sender can be verified",
                        extra={"path": str(self.principals_file), "error": repr(exc)},
                    )
        return self._verifier

    def entry(self, command: Command, body: Any, reply: Any) -> AuditEvent | None:
        """The audit entry of `command` (its decoded `body`) answered with `reply` (None:
        not to be recorded)."""
        principal = self.verifier.verify(
            command.subject, command.command_id, command.body, command.headers
        )
        if principal in SELF_AUDITING:
            return None
        annotations = {VIA: "nats"}
        claimed = command.headers.get(PRINCIPAL_HEADER)
        if principal is None and claimed:
            annotations[CLAIMED_PRINCIPAL] = claimed
        fields = _named_fields(body)
        error = reply.get("error") if isinstance(reply, dict) else None
        succeeded = isinstance(reply, dict) and reply.get("ok") is True
        return AuditEvent(
            auditID=context.new_id(),
            requestURI=command.subject,
            verb=command.action,
            user=AuditUser(username=f"nats:{principal}" if principal else UNVERIFIED),
            objectRef=AuditObjectRef(
                resource=command.entity, name=fields.get("id"), namespace=fields.get("namespace")
            ),
            responseStatus=AuditResponseStatus(
                status="Success" if succeeded else "Failure",
                reason=None if succeeded else _error_code(error),
            ),
            requestReceivedTimestamp=command.received_at,
            stageTimestamp=datetime.now(UTC),
            correlationID=command.headers.get(context.CORRELATION_HEADER),
            annotations=annotations,
        )

    async def record(self, command: Command, body: Any, reply: Any) -> None:
        """Publish the audit entry of `command` (acked by JetStream); never raises."""
        try:
            entry = self.entry(command, body, reply)
            if entry is None or self._publisher is None:
                return
            await self._publisher.publish(
                entry.model_dump(mode="json", exclude_none=True),
                headers={"Nats-Msg-Id": entry.auditID},
                timeout=PUBLISH_TIMEOUT_S,
            )
        except Exception as exc:  # the command stands; only its record is missing
            log.warning(
                "audit entry not recorded", extra={"subject": command.subject, "error": repr(exc)}
            )


class CommandAuditMiddleware(BaseMiddleware):
    """One message's pass through `CommandAudit`: the reply is kept on the way out of the
    handler (error replies included), the entry published once the reply has gone."""

    def __init__(self, msg: Any, /, *, context: ContextRepo, audit: CommandAudit) -> None:
        super().__init__(msg, context=context)
        self.audit = audit
        self.command: Command | None = None
        self.body: Any = None
        self.reply: Any = None
        self.answered = False

    async def on_receive(self) -> None:
        self.command = Command.parse(self.msg)

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        reply = await call_next(msg)
        self.reply = reply.body if isinstance(reply, Response) else reply
        self.answered = True
        if self.command is not None:
            try:
                self.body = await msg.decode()  # decoded once: the handler's copy
            except Exception:  # a body the handler could not read either (an error reply)
                self.body = None
        return reply

    async def after_processed(
        self,
        exc_type: type[BaseException] | None = None,
        exc_val: BaseException | None = None,
        exc_tb: TracebackType | None = None,
    ) -> bool | None:
        if self.command is not None and self.answered:
            await self.audit.record(self.command, self.body, _as_reply(self.reply))
        return False


def _as_reply(reply: Any) -> Any:
    if isinstance(reply, bytes | str):
        try:
            return json.loads(reply)
        except ValueError:
            return None
    return reply


def _named_fields(body: Any) -> dict[str, str]:
    """The `id` and `namespace` a command body names (strings only; nothing else of it)."""
    if not isinstance(body, dict):
        return {}
    return {k: body[k] for k in ("id", "namespace") if isinstance(body.get(k), str)}


def _error_code(error: Any) -> str | None:
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        return str(error["code"])
    return None
