"""The unit of work and repository ports, and the logic every implementation shares. Inside
`async with uow:` the repositories read and add in its transaction; `uow.commit(answer=...)`
writes at once a command's kept reply, every changed entity, one CloudEvent per change and the
queued jobs (no commit, no write). Implementations: `slipway_libs.storage`, `tests/memory.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import random
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel

from slipway_contracts import subjects
from slipway_libs import context
from slipway_libs.aggregate import Aggregate
from slipway_libs.errors import IdempotencyMismatch, NotFound, PreconditionFailed, Unavailable
from slipway_observability.tracing import current_traceparent

A = TypeVar("A", bound=Aggregate[Any])
T = TypeVar("T")

_open: ContextVar[Transaction | None] = ContextVar("slipway_transaction", default=None)
_next_reply: ContextVar[tuple[str, str] | None] = ContextVar("slipway_next_reply", default=None)
# One lock per entity with a command in flight in this process (gone once nobody holds it).
_entity_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
TRANSIENT_ATTEMPTS = 10


class ConcurrentWrite(PreconditionFailed):
    """Another writer changed the entity first (its revision moved on)."""


class TransientConflict(Exception):
    """The transaction lost a race with another one; running it again will do."""


class DuplicateReply(Exception):
    """Another run of the same command kept its reply first."""


@dataclass(frozen=True)
class Message:
    """One message of the outbox: published to `subject` on `stream` once committed."""

    subject: str
    stream: str
    payload: dict[str, Any]
    msg_id: str
    key: str | None = None  # what keeps its order: messages of one key are published in turn


@dataclass(frozen=True)
class KeptReply:
    """A command's reply, kept under its command id with a fingerprint of its body."""

    command_id: str
    fingerprint: str
    reply: dict[str, Any]


class Repository(ABC, Generic[A]):
    """The entities of one type; inside an open unit of work, `find`, `get` and `add` join its
    transaction. `where` compares dotted fields for equality; a list, tuple or set means any."""

    def __init__(self, entity: str, source: str, *, deadline_field: str = "deadline") -> None:
        self.entity = entity
        self.source = source
        self.deadline_field = deadline_field

    async def find(self, entity_id: str) -> A | None:
        """The entity, or None."""
        tx = _open.get()
        if tx is not None and (seen := tx.seen.get((id(self), entity_id))) is not None:
            return seen[1]  # type: ignore[return-value]  # one object per entity
        item = await self._read(entity_id, tx)
        if item is not None and tx is not None:
            tx.seen[(id(self), item.id)] = (self, item)
        return item

    async def get(self, entity_id: str) -> A:
        """The entity, or NotFound naming it."""
        found = await self.find(entity_id)
        if found is None:
            raise NotFound(f"{self.entity} '{entity_id}' does not exist")
        return found

    def add(self, item: A) -> None:
        """A new entity, written when the open unit of work commits."""
        tx = _open.get()
        if tx is None:
            raise RuntimeError("Repository.add needs an open unit of work")
        tx.seen[(id(self), item.id)] = (self, item)

    async def listing(
        self, *, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """One page of entity models (of `status`, if given) and the next page's cursor."""
        where = {"status": status} if status else {}
        items, next_cursor = await self.page(where, cursor=cursor, limit=limit)
        return [item.state for item in items], next_cursor

    async def matching(self, **where: Any) -> list[A]:
        """Every entity matching `where`, oldest first."""
        found: list[A] = []
        cursor = None
        while True:
            items, cursor = await self.page(where, cursor=cursor, limit=500)
            found += items
            if cursor is None:
                return found

    @abstractmethod
    async def page(
        self, where: dict[str, Any], *, cursor: str | None, limit: int
    ) -> tuple[list[A], str | None]:
        """One page of the entities matching `where`, oldest first, and the next cursor."""

    @abstractmethod
    async def overdue(self, now: datetime, **where: Any) -> list[A]:
        """The entities matching `where` whose deadline field lies before `now`."""

    @abstractmethod
    async def distinct(self, field: str) -> set[Any]:
        """The distinct values of `field` over every entity."""

    @abstractmethod
    async def _read(self, entity_id: str, tx: Transaction | None) -> A | None: ...

    @abstractmethod
    async def _write(self, tx: Transaction, item: A) -> None:
        """Insert, replace or delete the entity as its changes say, or ConcurrentWrite."""


@dataclass
class Transaction:
    """One open unit of work in one task; `handle` is the implementation's (a session...)."""

    uow: UnitOfWork
    reply_key: tuple[str, str] | None = None
    seen: dict[tuple[int, str], tuple[Repository[Any], Aggregate[Any]]] = field(
        default_factory=dict
    )
    jobs: list[Message] = field(default_factory=list)
    committed: bool = False
    handle: Any = None
    # The implementation's: whether the transaction holds reads or writes of its own yet.
    touched: bool = False
    outbox: list[dict[str, Any]] = field(default_factory=list)  # rows written, to publish
    token: Token[Transaction | None] | None = None


class UnitOfWork(ABC):
    """Transactions (see the module docstring); each `async with uow:` belongs to its task."""

    async def __aenter__(self) -> Self:
        if _open.get() is not None:
            raise RuntimeError("a unit of work is already open in this task")
        tx = Transaction(self, reply_key=_next_reply.get())
        _next_reply.set(None)
        await self._begin(tx)
        tx.token = _open.set(tx)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tx = self._tx()
        if tx.token is not None:
            _open.reset(tx.token)
        if not tx.committed:
            await self._rollback(tx)

    def _tx(self) -> Transaction:
        tx = _open.get()
        if tx is None or tx.uow is not self:
            raise RuntimeError("this unit of work is not open in this task")
        return tx

    def queue_job(self, subject: str, job: BaseModel, msg_id: str) -> None:
        """Queue a job on SLIPWAY_JOBS, published if this commits (`msg_id` de-duplicates)."""
        payload = job.model_dump(mode="json")
        self._tx().jobs.append(Message(subject, subjects.JOBS_STREAM, payload, msg_id, subject))

    async def commit(self, answer: T = None) -> T:  # type: ignore[assignment]
        """Write all of this transaction at once; returns `answer` (`idempotent` keeps it, in
        the outbox write: a command that ran before fails it, DuplicateReply, and the whole
        transaction with it)."""
        tx = self._tx()
        kept = KeptReply(*tx.reply_key, ok(answer)) if tx.reply_key is not None else None
        changed = [(repository, item) for repository, item in tx.seen.values() if item.changes]
        if not await self._commit_new(tx, changed, kept):
            messages: list[Message] = []
            for repository, item in changed:
                await repository._write(tx, item)
                messages += events_of(repository, item)
            messages += tx.jobs
            if messages or kept is not None:
                await self._write_outbox(tx, messages, kept)
            await self._commit(tx)
        for _, item in changed:
            item.saved()
        tx.committed = True
        return answer

    async def _commit_new(
        self,
        tx: Transaction,
        changed: list[tuple[Repository[Any], Aggregate[Any]]],
        kept: KeptReply | None,
    ) -> bool:
        """Commit a transaction that only adds new entities some cheaper way (e.g. together
        with others); False: not done, nothing written (it commits as any other)."""
        return False

    async def kept_reply(self, command_id: str, fingerprint: str) -> dict[str, Any] | None:
        """The reply kept for `command_id`, or None; IdempotencyMismatch for another body."""
        kept = await self._find_kept(command_id)
        if kept is not None and kept.fingerprint != fingerprint:
            raise IdempotencyMismatch(
                f"command id '{command_id}' (Idempotency-Key) was already used with a "
                "different request body"
            )
        return kept.reply if kept is not None else None

    @abstractmethod
    async def _begin(self, tx: Transaction) -> None: ...

    @abstractmethod
    async def _commit(self, tx: Transaction) -> None: ...

    @abstractmethod
    async def _rollback(self, tx: Transaction) -> None: ...

    @abstractmethod
    async def _write_outbox(
        self, tx: Transaction, messages: list[Message], kept: KeptReply | None
    ) -> None:
        """Write the messages and keep the reply (if any) in one go; raise DuplicateReply
        when the reply's command id is kept already."""

    @abstractmethod
    async def _find_kept(self, command_id: str) -> KeptReply | None: ...


def events_of(repository: Repository[Any], item: Aggregate[Any]) -> list[Message]:
    """One CloudEvent per change of `item`: `data` is the entity at that revision (and its
    `previous_status`)."""
    snapshot = item.snapshot()
    base = item.revision - len(item.changes)
    messages = []
    for revision, change in enumerate(item.changes, start=base + 1):
        envelope: dict[str, Any] = {
            "specversion": "1.0",
            "id": context.new_id(),
            "source": repository.source,
            "type": f"io.slipway.{repository.entity}.{change.event}.v1",
            "subject": item.id,
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "entityversion": revision,
            "correlationid": context.current_correlation_id(),
            "causationid": context.causation_id.get(),
            "data": {**snapshot, "revision": revision, "previous_status": change.previous_status},
        }
        if traceparent := current_traceparent():  # CloudEvents distributed-tracing extension
            envelope["traceparent"] = traceparent
        subject = subjects.event(repository.entity, change.event)
        messages.append(Message(subject, subjects.EVENTS_STREAM, envelope, envelope["id"], item.id))
    return messages


def ok(data: Any) -> dict[str, Any]:
    """A success reply."""
    return {"ok": True, "data": data}


def fingerprint(command: BaseModel) -> str:
    """A hash of a command's content: the same id with other content is refused."""
    return hashlib.sha256(command.model_dump_json().encode()).hexdigest()


class WithUnitOfWork(Protocol):
    """What a use case's dependencies must offer for `idempotent`."""

    @property
    def uow(self) -> UnitOfWork: ...


D = TypeVar("D", bound=WithUnitOfWork)
C = TypeVar("C", bound=BaseModel)


@contextlib.asynccontextmanager
async def entity_lock(entity_id: str | None) -> AsyncIterator[None]:
    """Hold entity `entity_id`'s lock in this process (None: no lock), so that its commands
    run here one after another; between processes, the `revision` check guards."""
    if entity_id is None:
        yield
        return
    lock = _entity_locks.get(entity_id)
    if lock is None:
        lock = _entity_locks[entity_id] = asyncio.Lock()
    async with lock:
        yield


def idempotent(
    use_case: Callable[[D, C], Awaitable[Any]],
) -> Callable[[D, C], Awaitable[dict[str, Any]]]:
    """Make a command use case (which commits with `answer=`) reply `ok(answer)` at most once
    per command id: a repeat gets the kept reply, the same id with another body is refused.
    It runs under the lock of the entity the command names (its `id`), if any.

    No look-up precedes the work: the reply is kept in the use case's own transaction, so a
    repeat fails to keep it (DuplicateReply, nothing written) or fails as the entity has moved
    on; only then is the kept reply read."""

    @functools.wraps(use_case)
    async def run(dependencies: D, command: C) -> dict[str, Any]:
        command_id = context.causation_id.get()
        print_ = fingerprint(command)

        async def attempt() -> dict[str, Any]:
            if command_id:  # the transaction the use case opens keeps its answer as the reply
                _next_reply.set((command_id, print_))
            return ok(await use_case(dependencies, command))

        async with entity_lock(getattr(command, "id", None)):
            try:
                return await retrying(attempt)
            except Exception:
                if command_id and (kept := await _kept(dependencies.uow, command_id, print_)):
                    return kept  # the command ran before (or concurrently, and won)
                raise

    return run


async def _kept(uow: UnitOfWork, command_id: str, print_: str) -> dict[str, Any] | None:
    with contextlib.suppress(Unavailable):  # then the command's own failure says enough
        return await uow.kept_reply(command_id, print_)
    return None


async def retrying(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work` (a unit of work block) again while its transaction loses races."""
    for attempt in range(1, TRANSIENT_ATTEMPTS):
        try:
            return await work()
        except TransientConflict:
            # Wait a little, more each time, so that the racing writers spread out.
            await asyncio.sleep(random.uniform(0, 0.01 * attempt))
    return await work()


def check_if_match(item: Aggregate[Any], expected_revision: int | None) -> None:
    """Raise PreconditionFailed when the client's If-Match revision is not current."""
    if expected_revision is not None and expected_revision != item.revision:
        current = item.revision
        raise PreconditionFailed(
            f"revision {expected_revision} is not current: the entity is at revision {current}",
            {"current_revision": current},
        )


async def expire_overdue(uow: UnitOfWork, repository: Repository[Any], **where: Any) -> int:
    """The deadline sweep: expire each overdue entity matching `where`; returns how many."""
    now = datetime.now(UTC)
    expired = 0
    for stale in await repository.overdue(now, **where):
        async with uow:
            item = await repository.find(stale.id)
            if item is not None and item.expire(now):
                await uow.commit()
                expired += 1
    return expired
