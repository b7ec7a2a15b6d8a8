"""The audit trail of API calls: the `AuditTrail` middleware records one entry per change
under `/api` (whatever its outcome) and per refused call (401, 403), before the client
has the answer, so an entry is in the log by the time its call is answered.

A change the audit log could not record is not made: when MongoDB is down, a change is
answered 503 before it runs. An entry that cannot be stored once the change is made
(MongoDB went down meanwhile, e.g. a primary failing over) is stored again in the background
for `STORE_AGAIN_FOR_S` (entries are idempotent on `auditID`), then logged as an error, whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from slipway_contracts.access import AuditEvent
from slipway_gateway.access.audit_entries import ApiCall, Outcome, api_entry, is_audited
from slipway_gateway.access.rules import ApiPath
from slipway_gateway.adapters.audit_store import AuditStore
from slipway_gateway.entrypoints.authorization import principal_of_call
from slipway_gateway.entrypoints.problems import error_problem
from slipway_libs import context
from slipway_libs.errors import Unavailable

log = logging.getLogger(__name__)

# An answer read for its problem code, namespace or new id; larger ones are not parsed.
PARSED_ANSWER_BYTES = 1024 * 1024
# How long an entry MongoDB refused is tried again (a replica set elects within seconds).
STORE_AGAIN_FOR_S = 120.0
STORE_AGAIN_EVERY_S = 1.0
_storing_again: set[asyncio.Task[None]] = set()


async def store_again(store: AuditStore, entry: AuditEvent) -> None:
    """Store `entry` once MongoDB takes it again; logged whole if it never does."""
    deadline = time.monotonic() + STORE_AGAIN_FOR_S
    stored = False
    try:
        while not stored and time.monotonic() < deadline:
            await asyncio.sleep(STORE_AGAIN_EVERY_S)
            with contextlib.suppress(Unavailable):
                await store.record(entry)
                stored = True
    finally:  # given up, or the gateway is stopping: the entry stays in the log
        if not stored:
            log.error("audit entry not stored", extra={"audit": entry.model_dump(mode="json")})


class AuditTrail:
    """ASGI middleware recording the audit entry of each change and each refused call."""

    def __init__(self, app: ASGIApp, retry_after_s: int) -> None:
        self.app = app
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        store: AuditStore = scope["app"].state.audit_log
        recording = Recording(scope, send, store)
        if recording.is_change:
            try:
                await store.ping()
            except Unavailable as exc:
                response = error_problem(Request(scope), exc, self.retry_after_s)
                await response(scope, receive, recording.send)
                return
        try:
            await self.app(scope, receive, recording.send)
        finally:
            if recording.audited and not recording.recorded:  # the app failed: a 500
                await recording.record(recording.status or 500)


class Recording:
    """One call's answer: passed straight through, or for an audited call held until its
    entry is recorded."""

    def __init__(self, scope: Scope, send: Send, store: AuditStore) -> None:
        self.scope = scope
        self._send = send
        self.store = store
        self.path = ApiPath.parse(scope["path"])
        self.received_at = datetime.now(UTC)
        self.is_change = is_audited(scope["method"], self.path)
        self.audited = self.is_change
        self.status: int | None = None
        self.recorded = False
        self.held: list[Message] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.audited = is_audited(self.scope["method"], self.path, self.status)
        if not self.audited:
            await self._send(message)
            return
        self.held.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            await self.record(self.status or 500)
            for held in self.held:
                await self._send(held)
            self.held.clear()

    async def record(self, status: int) -> None:
        self.recorded = True
        entry = api_entry(str(uuid.uuid4()), self.call(), self.outcome(status), datetime.now(UTC))
        try:
            await self.store.record(entry)
        except Unavailable:
            log.warning(
                "audit entry not stored yet; storing it again", extra={"audit_id": entry.auditID}
            )
            task = asyncio.create_task(store_again(self.store, entry))
            _storing_again.add(task)  # kept referenced until done
            task.add_done_callback(_storing_again.discard)

    def call(self) -> ApiCall:
        request = Request(self.scope)
        query = self.scope.get("query_string", b"").decode("latin-1")
        return ApiCall(
            method=self.scope["method"],
            uri=self.scope["path"] + (f"?{query}" if query else ""),
            path=self.path,
            principal=principal_of_call(self.scope),
            received_at=self.received_at,
            source_ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
            correlation_id=context.correlation_id.get(),
        )

    def outcome(self, status: int) -> Outcome:
        """The status, and what the answer tells of the call: a problem's code, the
        entity's namespace, a create's new id (never anything else of the body)."""
        answer = self.answer()
        namespace = self.scope.get("state", {}).get("namespace") or answer.get("namespace")
        creates = self.path is not None and self.path.is_collection and status < 300
        return Outcome(
            status=status,
            reason=problem_reason(answer) if status >= 400 else None,
            namespace=text(namespace),
            created_id=text(answer.get("id")) if creates else None,
        )

    def answer(self) -> dict[str, Any]:
        """The held answer as a JSON object; empty when it is none."""
        start = next((m for m in self.held if m["type"] == "http.response.start"), None)
        headers = dict(start.get("headers", [])) if start else {}
        if b"json" not in headers.get(b"content-type", b""):
            return {}
        body = b"".join(m.get("body", b"") for m in self.held if m["type"] == "http.response.body")
        if len(body) > PARSED_ANSWER_BYTES:
            return {}
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


def problem_reason(problem: dict[str, Any]) -> str | None:
    """A problem's `code`, else its `type`, else (`about:blank`) its title."""
    kind = text(problem.get("type"))
    return text(problem.get("code")) or (
        kind if kind != "about:blank" else text(problem.get("title"))
    )


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
