"""Rows read lately, kept a moment: a burst of commands and rollouts about the same cluster
and image reads each row once per `ttl_s` instead of once per use (every MongoDB round
trip costs the process, and mongod, a socket write and a wake-up).

A writer in this process drops the key it changes; a change made elsewhere (another
replica) is seen at most `ttl_s` later, which the projections (fed by events) allow anyway.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
_MISSING = object()


class Recent(Generic[V]):
    """A small time-bounded cache; `get` answers `default` for what it does not hold."""

    def __init__(self, ttl_s: float, max_entries: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}

    def get(self, key: Hashable, default: object = _MISSING) -> V | object:
        entry = self._entries.get(key)
        if entry is None:
            return default
        if entry[0] < time.monotonic():
            del self._entries[key]
            return default
        return entry[1]

    def put(self, key: Hashable, value: V) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a burst over many keys: start again rather than grow
        self._entries[key] = (time.monotonic() + self.ttl_s, value)

    def drop(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


MISSING = _MISSING
"""What `Recent.get` answers by default for a key it does not hold (None may be a value)."""
