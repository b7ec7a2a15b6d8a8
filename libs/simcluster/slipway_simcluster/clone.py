"""Deep copies of API objects: JSON data (dicts, lists, strings, numbers, booleans, None).

The store copies every object it hands out or takes in, and the controllers copy each one
they change; `copy.deepcopy` spends most of its time on its memo and type dispatch, which
JSON data does not need (a document has no shared or cyclic parts)."""

from __future__ import annotations

import copy
from typing import Any, TypeVar, cast

T = TypeVar("T")

_ATOMS = frozenset({str, int, float, bool, type(None)})


def clone(value: T) -> T:
    """A deep copy of `value`; what is not JSON data is copied by `copy.deepcopy`."""
    return cast(T, _clone(value))


def _clone(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _ATOMS else _clone(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _ATOMS else _clone(item) for item in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)
