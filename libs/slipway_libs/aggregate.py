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
    """A contract entity plus the changes made to it since it was loaded.

    Every write goes through `transition`, `update`, `created` or `deleted`; the unit
    of work turns each recorded change into one event with its own revision.
    """

    table: ClassVar[TransitionTable]

    def __init__(self, state: S, loaded_revision: int | None = None) -> None:
        self.state = state
        self.loaded_revision = loaded_revision
        self.changes: list[Change] = []

    @classmethod
    def create(cls, model: type[S], entity_id: str, status: str, **fields: Any) -> Self:
        """A new entity of `model` at revision 1 in `status`, its creation recorded."""
        now = utcnow()
        item = cls(
            model(
                id=entity_id,
                created_at=now,
                last_updated=now,
                revision=1,
                status=status,
                **fields,
            )
        )
        item.mark_created()
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

    def _write(self, event: str, previous: str | None, fields: dict[str, Any]) -> None:
        # Re-validate so that every write leaves a state the contract accepts.
        merged = {**self.state.model_dump(), **fields, "last_updated": utcnow()}
        self.state = type(self.state).model_validate(merged)
        self.changes.append(Change(event, previous))

    def transition(self, target: str, **fields: Any) -> None:
        """Move to `target` (guarded by the transition table), setting `fields` with it."""
        self.table.guard(self.status, target)
        previous = self.status
        self._write(str(target), previous, {**fields, "status": target})

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
        """Start the work again (a rebuild, a re-validation, a rollout) in status `initial`.

        Work already under way (status `initial` or one of `in_flight`) only gets the new
        `fields`: its job becomes stale, and the outcome it reports is ignored.
        """
        if self.status in in_flight:
            self.update(**fields)
        else:
            self.move(initial, **fields)

    def mark_created(self) -> None:
        """Record the creation of a new entity (a `created` event)."""
        self.changes.append(Change("created", None))

    def mark_deleted(self) -> None:
        """Record the removal of the entity (a `deleted` event)."""
        self.changes.append(Change("deleted", self.status))
