"""Entities with a state machine that record what happened to them (pure domain code)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel

from slipway_libs.statemachine import TransitionTable

S = TypeVar("S", bound=BaseModel)


def utcnow() -> datetime:
    """The current time in UTC (the one clock of domain code)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Change:
    """One recorded change; `event` is `created`, `updated`, `deleted` or the new status."""

    event: str
    previous_status: str | None


class Aggregate(Generic[S]):
    """A contract entity and its changes since loaded (each write: revision + 1, one event); work
    in flight (a status in `in_flight`) ends at its deadline: `expire` calls `overdue`."""

    table: ClassVar[TransitionTable]
    in_flight: ClassVar[Collection[str]] = ()

    def __init__(self, state: S, loaded_revision: int | None = None) -> None:
        self.state = state
        self.loaded_revision = loaded_revision
        self.changes: list[Change] = []
        self._snapshot: tuple[S, dict[str, Any]] | None = None

    @classmethod
    def create(cls, model: type[S], entity_id: str, status: str, **fields: Any) -> Self:
        """A new entity of `model` at revision 1 in `status`, its creation recorded."""
        now = utcnow()
        times = {"created_at": now, "last_updated": now}
        item = cls(model(id=entity_id, revision=1, status=status, **times, **fields))
        item.changes.append(Change("created", None))
        return item

    @property
    def _fields(self) -> Any:
        return self.state  # every entity model has id, status and revision

    @property
    def id(self) -> str:
        return str(self._fields.id)

    @property
    def status(self) -> str:
        return str(self._fields.status)

    @property
    def revision(self) -> int:
        return int(self._fields.revision)

    def snapshot(self) -> dict[str, Any]:
        """The entity as the API shows it, dumped once per state (its events and the reply
        share that dump)."""
        if self._snapshot is None or self._snapshot[0] is not self.state:
            self._snapshot = (self.state, dict(self._fields.snapshot()))
        return dict(self._snapshot[1])

    def _write(self, event: str, previous: str | None, fields: dict[str, Any]) -> None:
        # Re-validate so that every write leaves a state the contract accepts.
        merged = {
            **self.state.model_dump(),
            **fields,
            "last_updated": utcnow(),
            "revision": self.revision + 1,
        }
        self.state = type(self.state).model_validate(merged)
        self.changes.append(Change(event, previous))

    def saved(self) -> None:
        """The recorded changes are written: the entity is now loaded at this revision."""
        self.loaded_revision = self.revision
        self.changes = []

    def transition(self, target: str, **fields: Any) -> None:
        """Move to `target` (guarded by the transition table), setting `fields` with it."""
        self.table.guard(self.status, target)
        self._write(str(target), self.status, {**fields, "status": target})

    def update(self, **fields: Any) -> None:
        """Change fields without a status change (an `updated` event)."""
        self._write("updated", self.status, fields)

    def move(self, target: str, **fields: Any) -> None:
        """Transition to `target`, or only set `fields` when the entity is there already."""
        if self.status == target:
            self.update(**fields)
        else:
            self.transition(target, **fields)

    def restart(self, initial: str, *, in_flight: Collection[str] = (), **fields: Any) -> None:
        """Start the work again (a rebuild, a rollout) in `initial`; work under way (in `initial`
        or `in_flight`) only gets the new `fields` (its stale job's outcome is then ignored)."""
        if self.status in in_flight:
            self.update(**fields)
        else:
            self.move(initial, **fields)

    def mark_deleted(self) -> None:
        """Record the removal of the entity (a `deleted` event)."""
        self.state = self.state.model_copy(update={"revision": self.revision + 1})
        self.changes.append(Change("deleted", self.status))

    @property
    def deleted(self) -> bool:
        """Whether the last recorded change removes the entity."""
        return bool(self.changes) and self.changes[-1].event == "deleted"

    def deadline(self) -> datetime | None:
        """When the work in flight must be over (the entity's `deadline` field)."""
        value = getattr(self.state, "deadline", None)
        return value if isinstance(value, datetime) else None

    def expire(self, now: datetime) -> bool:
        """End the work in flight when its deadline has passed; whether it did."""
        deadline = self.deadline()
        if self.status not in self.in_flight or deadline is None or deadline > now:
            return False
        self.overdue(deadline)
        return True

    def overdue(self, deadline: datetime) -> None:
        """Move to the terminal state of work that missed `deadline` (with the reason)."""
        raise NotImplementedError(f"{type(self).__name__} has no deadline")
