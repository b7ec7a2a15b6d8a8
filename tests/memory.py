"""In-memory implementations of the repository and unit-of-work ports, for unit tests of
use cases: no server runs. They keep the same promises as MongoDB's: nothing is visible
before the commit, a stale revision fails with ConcurrentWrite, a command id keeps one
reply; `events`, `jobs` and `replies` show what a commit would have published and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from slipway_contracts import subjects
from slipway_libs.aggregate import Aggregate
from slipway_libs.errors import InvalidInput
from slipway_libs.unit_of_work import (
    ConcurrentWrite,
    DuplicateReply,
    KeptReply,
    Message,
    Repository,
    Transaction,
    UnitOfWork,
)

A = TypeVar("A", bound=Aggregate[Any])


def field_value(state: BaseModel, path: str) -> Any:
    """The value at a dotted `path` of a model (None where a part is missing)."""
    value: Any = state
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
        if value is None:
            return None
    return value


def matches(state: BaseModel, where: dict[str, Any]) -> bool:
    """Whether `state` passes a repository `where` filter."""
    for path, wanted in where.items():
        value = field_value(state, path)
        if isinstance(wanted, list | tuple | set | frozenset):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


class InMemoryRepository(Repository[A]):
    """Entities of one type in a dict, committed by an InMemoryUnitOfWork; `unique` maps the
    name of a unique index to its field (a clash raises DuplicateKeyError, as MongoDB does)."""

    def __init__(
        self,
        aggregate: type[A],
        entity: str,
        *,
        source: str = "/slipway/test",
        deadline_field: str = "deadline",
        unique: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(entity, source, deadline_field=deadline_field)
        self.aggregate = aggregate
        self.rows: dict[str, BaseModel] = {}
        self.unique = dict(unique or {})

    def put(self, item: A) -> A:
        """Store `item` as committed, without events (test set-up); returns it as loaded."""
        self.rows[item.id] = item.state.model_copy(deep=True)
        item.saved()
        return item

    def _load(self, state: BaseModel) -> A:
        revision = int(getattr(state, "revision"))  # noqa: B009 - every entity has it
        return self.aggregate(state.model_copy(deep=True), loaded_revision=revision)

    async def _read(self, entity_id: str, tx: Transaction | None) -> A | None:
        state = self.rows.get(entity_id)
        return self._load(state) if state is not None else None

    async def page(
        self, where: dict[str, Any], *, cursor: str | None = None, limit: int = 100
    ) -> tuple[list[A], str | None]:
        ordered = sorted(
            (s for s in self.rows.values() if matches(s, where)),
            key=lambda s: (field_value(s, "created_at"), field_value(s, "id")),
        )
        start = 0
        if cursor is not None:
            try:
                start = int(cursor)
            except ValueError as exc:
                raise InvalidInput.field("cursor", "is not a cursor this API returned") from exc
        chunk = ordered[start : start + limit]
        more = start + limit < len(ordered)
        return [self._load(s) for s in chunk], str(start + limit) if more else None

    async def overdue(self, now: datetime, **where: Any) -> list[A]:
        items = await self.matching(**where)
        return [
            item
            for item in items
            if (deadline := field_value(item.state, self.deadline_field)) is not None
            and deadline < now
        ]

    async def distinct(self, field: str) -> set[Any]:
        return {v for s in self.rows.values() if (v := field_value(s, field)) is not None}

    async def _write(self, tx: Transaction, item: A) -> None:
        if not isinstance(tx.uow, InMemoryUnitOfWork):
            raise TypeError("an in-memory repository writes through an InMemoryUnitOfWork")
        tx.uow.stage(tx, self, item)


@dataclass
class _Staged:
    """What one in-memory transaction will write at commit."""

    writes: list[tuple[InMemoryRepository[Any], str, BaseModel | None]] = field(
        default_factory=list
    )
    outbox: list[Message] = field(default_factory=list)
    reply: KeptReply | None = None
    effects: list[Callable[[], None]] = field(default_factory=list)


class InMemoryUnitOfWork(UnitOfWork):
    """A unit of work over InMemoryRepository objects.

    - `events` and `jobs`: what the outbox of every commit held, in order;
    - `replies`: the kept command replies by command id;
    - `commits`: how many commits went through;
    - `fail_next_commit`: an exception the next commit raises (after staging nothing).
    """

    def __init__(self) -> None:
        self.events: list[Message] = []
        self.jobs: list[Message] = []
        self.replies: dict[str, KeptReply] = {}
        self.commits = 0
        self.fail_next_commit: Exception | None = None

    def stage(
        self, tx: Transaction, repository: InMemoryRepository[Any], item: Aggregate[Any]
    ) -> None:
        """Check `item`'s revision against the committed row and stage its write."""
        current = repository.rows.get(item.id)
        current_revision = None if current is None else int(getattr(current, "revision"))  # noqa: B009
        if item.loaded_revision != current_revision:
            raise ConcurrentWrite(f"{repository.entity} '{item.id}' changed meanwhile; retry")
        state = None if item.deleted else item.state.model_copy(deep=True)
        for index, path in repository.unique.items():
            value = None if state is None else field_value(state, path)
            if value is not None and any(
                other_id != item.id and field_value(other, path) == value
                for other_id, other in repository.rows.items()
            ):
                raise DuplicateKeyError(f"E11000 duplicate key error index: {index}", 11000)
        tx.handle.writes.append((repository, item.id, state))

    def at_commit(self, effect: Callable[[], None]) -> None:
        """Run `effect` (a fake adapter's write) if the open transaction commits."""
        self._tx().handle.effects.append(effect)

    def event_types(self) -> list[str]:
        """The subjects of the committed events, in order (`slipway.events.<entity>.<event>`)."""
        return [m.subject for m in self.events]

    async def _begin(self, tx: Transaction) -> None:
        tx.handle = _Staged()

    async def _commit(self, tx: Transaction) -> None:
        if self.fail_next_commit is not None:
            failure, self.fail_next_commit = self.fail_next_commit, None
            raise failure
        staged: _Staged = tx.handle
        for repository, entity_id, state in staged.writes:
            if state is None:
                repository.rows.pop(entity_id, None)
            else:
                repository.rows[entity_id] = state
        for message in staged.outbox:
            is_job = message.stream == subjects.JOBS_STREAM
            (self.jobs if is_job else self.events).append(message)
        if staged.reply is not None:
            self.replies[staged.reply.command_id] = staged.reply
        for effect in staged.effects:
            effect()
        self.commits += 1

    async def _rollback(self, tx: Transaction) -> None:
        tx.handle = _Staged()

    async def _write_outbox(
        self, tx: Transaction, messages: list[Message], kept: KeptReply | None
    ) -> None:
        if kept is not None and kept.command_id in self.replies:
            raise DuplicateReply(kept.command_id)
        tx.handle.outbox += messages
        tx.handle.reply = kept

    async def _find_kept(self, command_id: str) -> KeptReply | None:
        return self.replies.get(command_id)
