"""Transition-table state machines: one table per entity, one guard that always raises."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class IllegalTransition(Exception):
    """A move that the entity's transition table does not allow."""

    def __init__(self, entity: str, current: str, target: str) -> None:
        super().__init__(
            f"{entity} cannot go from '{current}' to '{target}' (current status: {current})"
        )
        self.entity = entity
        self.current = current
        self.target = target


@dataclass(frozen=True)
class TransitionTable:
    """The legal (from, to) status pairs of one entity type."""

    entity: str
    moves: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, entity: str, moves: Iterable[tuple[str, str]]) -> TransitionTable:
        """Build a table from (from, to) pairs of status values."""
        return cls(entity, frozenset((str(a), str(b)) for a, b in moves))

    def allows(self, current: str, target: str) -> bool:
        """Whether `current -> target` is a legal move."""
        return (str(current), str(target)) in self.moves

    def guard(self, current: str, target: str) -> None:
        """Raise IllegalTransition unless `current -> target` is legal."""
        if not self.allows(current, target):
            raise IllegalTransition(self.entity, str(current), str(target))
