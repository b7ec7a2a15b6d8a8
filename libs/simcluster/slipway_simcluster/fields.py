"""Managed fields and server-side apply, after structured-merge-diff.

Every write through the API records which field manager set which fields, in
`metadata.managedFields` (FieldsV1 sets, as a real API server writes them):

- an update (create, PUT, merge/strategic/JSON patch) takes the fields it changed from every
  other manager;
- an apply (PATCH `application/apply-patch+yaml`) merges the applied configuration into the
  object, fails with a 409 conflict when it changes a value another manager owns (unless
  `force=true`), and removes the fields this manager applied last time but no longer applies
  and nobody else owns: dropping a field from a manifest removes it from the object.

A path is a tuple of FieldsV1 elements: `f:<field>`, `k:<key fields as JSON>` (an element
of a keyed list), `v:<value as JSON>` (an element of a set).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.errors import ApiError
from slipway_simcluster.meta import now_rfc3339
from slipway_simcluster.schema import KEY_DEFAULTS, Schema

Path = tuple[str, ...]
APPLY, UPDATE = "Apply", "Update"
# Metadata the server owns: never part of a manager's fields.
_SERVER_METADATA = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
}
_MISSING = object()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def element_key(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    """The `k:` element of a keyed-list item (key fields defaulted as the server does)."""
    if not keys:
        return "k:" + _json(item)
    identity = {}
    for key in keys:
        value = item.get(key, KEY_DEFAULTS.get(key))
        if value is not None:
            identity[key] = value
    return "k:" + _json(identity)


def owned_part(obj: dict[str, Any], *, status: bool, has_status: bool) -> dict[str, Any]:
    """What managers may own of an object written to the main resource or to `/status`.

    Type and server-set metadata are nobody's; the status of a kind with a status
    subresource belongs to `/status` writes only, and those own nothing else.
    """
    owned: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind") or value is None:
            continue
        if status != (key == "status") and (status or has_status):
            continue
        if key == "metadata" and isinstance(value, dict):
            metadata = {k: v for k, v in value.items() if k not in _SERVER_METADATA}
            if metadata:
                owned["metadata"] = metadata
            continue
        owned[key] = value
    return owned


def field_set(obj: Any, schema: Schema) -> set[Path]:
    """Every leaf field and keyed element of an object, as paths."""
    paths: set[Path] = set()
    _walk(obj, schema, (), paths)
    return paths


def _walk(value: Any, schema: Schema, path: Path, out: set[Path]) -> None:
    if isinstance(value, dict) and schema.shape in ("struct", "map", "untyped"):
        if schema.atomic or (not value and path):
            out.add(path)
            return
        for key, child in value.items():
            if child is not None:
                _walk(child, schema.field(key), (*path, f"f:{key}"), out)
        return
    if isinstance(value, list) and schema.shape == "list" and schema.list_type != "atomic":
        if not value:
            out.add(path)
            return
        if schema.list_type == "set" or not all(isinstance(item, dict) for item in value):
            out.update((*path, f"v:{_json(item)}") for item in value)
            return
        elements = schema.items()
        for item in value:
            item_path = (*path, element_key(item, schema.list_keys))
            out.add(item_path)
            for key, child in item.items():
                if child is not None:
                    _walk(child, elements.field(key), (*item_path, f"f:{key}"), out)
        return
    if path:
        out.add(path)


def _child(container: Any, element: str, schema: Schema) -> tuple[Any, Schema]:
    kind, text = element[:2], element[2:]
    if kind == "f:" and isinstance(container, dict):
        return container.get(text, _MISSING), schema.field(text)
    if kind == "k:" and isinstance(container, list):
        for item in container:
            if isinstance(item, dict) and element_key(item, schema.list_keys) == element:
                return item, schema.items()
    if kind == "v:" and isinstance(container, list):
        wanted = json.loads(text)
        for item in container:
            if item == wanted:
                return item, schema.items()
    return _MISSING, schema


def value_at(obj: Any, path: Path, schema: Schema) -> Any:
    """The value at a path, or `_MISSING`."""
    current = obj
    for element in path:
        current, schema = _child(current, element, schema)
        if current is _MISSING:
            return _MISSING
    return current


def _remove(obj: Any, path: Path, schema: Schema) -> bool:
    """Remove the value at a path; True if something was removed."""
    parent: Any = obj
    for element in path[:-1]:
        parent, schema = _child(parent, element, schema)
        if parent is _MISSING:
            return False
    last = path[-1]
    kind, text = last[:2], last[2:]
    if kind == "f:" and isinstance(parent, dict) and text in parent:
        del parent[text]
        return True
    if kind in ("k:", "v:") and isinstance(parent, list):
        target, _ = _child(parent, last, schema)
        if target is not _MISSING:
            parent.remove(target)
            return True
    return False


def remove_fields(obj: dict[str, Any], paths: set[Path], keep: set[Path], schema: Schema) -> None:
    """Remove `paths` from `obj`, then the maps and lists that removal left empty unless a
    path in `keep` names them (an empty value someone set on purpose)."""
    emptied: set[Path] = set()
    # A dropped element goes whole: its fields (its key among them) need no removal first.
    topmost = [p for p in paths if not any(p[:i] in paths for i in range(1, len(p)))]
    for path in topmost:
        if _remove(obj, path, schema) and len(path) > 1:
            emptied.add(path[:-1])
    while emptied:
        path = max(emptied, key=len)
        emptied.discard(path)
        value = value_at(obj, path, schema)
        removed = value in ({}, []) and path not in keep and _remove(obj, path, schema)
        if removed and len(path) > 1:
            emptied.add(path[:-1])


def merge_applied(current: Any, applied: Any, schema: Schema) -> Any:
    """Merge an applied configuration into an object: maps by key, keyed lists element by
    element, sets by value; atomic values and scalars are replaced."""
    if isinstance(applied, dict) and isinstance(current, dict) and not schema.atomic:
        merged = dict(current)
        for key, value in applied.items():
            if value is None:
                continue
            if key in merged:
                merged[key] = merge_applied(merged[key], value, schema.field(key))
            else:
                merged[key] = _without_nulls(value)
        return merged
    if (
        isinstance(applied, list)
        and isinstance(current, list)
        and schema.shape == "list"
        and schema.list_type != "atomic"
    ):
        merged_list = list(current)
        if schema.list_type == "set" or not all(isinstance(i, dict) for i in applied + current):
            return merged_list + [_without_nulls(item) for item in applied if item not in current]
        keys = schema.list_keys
        positions = {element_key(item, keys): index for index, item in enumerate(merged_list)}
        for item in applied:
            index = positions.get(element_key(item, keys))
            if index is None:
                merged_list.append(_without_nulls(item))
            else:
                merged_list[index] = merge_applied(merged_list[index], item, schema.items())
        return merged_list
    return _without_nulls(applied)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return clone(value)


# FieldsV1 documents.


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    """A path set as a FieldsV1 trie (`"."` marks a member that also has children)."""
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
        node["."] = {}
    _normalize(root)
    return root


def _normalize(node: dict[str, Any]) -> None:
    for key, child in node.items():
        if key != ".":
            _normalize(child)
    if set(node) == {"."}:
        del node["."]


def from_fields_v1(fields: Any) -> set[Path]:
    """The path set of a FieldsV1 trie."""
    paths: set[Path] = set()

    def walk(node: Any, path: Path) -> None:
        if not isinstance(node, dict):
            return
        children = [key for key in node if key != "."]
        if path and (not children or "." in node):
            paths.add(path)
        for key in children:
            walk(node[key], (*path, key))

    walk(fields, ())
    return paths


@dataclass
class ManagedEntry:
    """One `managedFields` entry: the fields a manager set through one kind of operation."""

    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str = field(default_factory=now_rfc3339)
    fields: set[Path] = field(default_factory=set)

    @property
    def identity(self) -> tuple[str, str, str]:
        """Entries are merged by manager, operation and subresource."""
        return (self.manager, self.operation, self.subresource)

    @classmethod
    def parse(cls, entry: dict[str, Any]) -> ManagedEntry:
        """Read a stored entry."""
        return cls(
            manager=str(entry.get("manager", "")),
            operation=str(entry.get("operation", UPDATE)),
            api_version=str(entry.get("apiVersion", "")),
            subresource=str(entry.get("subresource", "")),
            time=str(entry.get("time") or now_rfc3339()),
            fields=from_fields_v1(entry.get("fieldsV1")),
        )

    def render(self) -> dict[str, Any]:
        """The entry as stored in `metadata.managedFields`."""
        entry: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.fields),
        }
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def read_entries(obj: dict[str, Any]) -> list[ManagedEntry]:
    """The managed-fields entries of an object."""
    stored = (obj.get("metadata") or {}).get("managedFields") or []
    return [ManagedEntry.parse(e) for e in stored if isinstance(e, dict) and e.get("manager")]


def write_entries(obj: dict[str, Any], entries: list[ManagedEntry]) -> None:
    """Store entries in `metadata.managedFields` (dropping those that own nothing)."""
    kept = [entry.render() for entry in entries if entry.fields]
    metadata = obj.setdefault("metadata", {})
    if kept:
        metadata["managedFields"] = kept
    else:
        metadata.pop("managedFields", None)


def _entry_for(
    entries: list[ManagedEntry], manager: str, operation: str, api_version: str, subresource: str
) -> ManagedEntry:
    for entry in entries:
        if entry.identity == (manager, operation, subresource):
            entry.api_version = api_version
            return entry
    entry = ManagedEntry(manager, operation, api_version, subresource)
    entries.append(entry)
    return entry


def _differs(old: Any, new: Any, path: Path, schema: Schema) -> bool:
    before = value_at(old, path, schema)
    if before is _MISSING:
        return True
    if path[-1][:2] in ("k:", "v:"):
        return False  # an element present before and after: its fields tell what changed
    return bool(before != value_at(new, path, schema))


def record_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    schema: Schema,
    *,
    manager: str,
    api_version: str,
    subresource: str,
    has_status: bool,
) -> None:
    """Record in `new` that `manager` changed what differs from `old` (an Update)."""
    status = subresource == "status"
    entries = read_entries(old) if old is not None else []
    old_part = owned_part(old or {}, status=status, has_status=has_status)
    new_part = owned_part(new, status=status, has_status=has_status)
    before, after = field_set(old_part, schema), field_set(new_part, schema)
    changed = {path for path in after if _differs(old_part, new_part, path, schema)}
    removed = before - after
    if changed or removed:
        mine = _entry_for(entries, manager, UPDATE, api_version, subresource)
        for entry in entries:
            entry.fields -= removed
            if entry is not mine:
                entry.fields -= changed
        mine.fields |= changed
        mine.time = now_rfc3339()
    write_entries(new, entries)


def conflict_error(conflicts: dict[Path, list[ManagedEntry]], kind: str, name: str) -> ApiError:
    """409 Conflict listing every field another manager owns, worded as a real server does."""
    by_manager: dict[str, list[str]] = {}
    causes = []
    for path in sorted(conflicts):
        dotted = "".join(f".{e[2:]}" if e.startswith("f:") else f"[{e[2:]}]" for e in path)
        for entry in conflicts[path]:
            who = f'"{entry.manager}"'
            if entry.operation == UPDATE:
                who += f" using {entry.api_version}"
            by_manager.setdefault(who, []).append(dotted)
            causes.append(
                {
                    "reason": "FieldManagerConflict",
                    "message": f"conflict with {who}",
                    "field": dotted,
                }
            )
    parts = []
    for who, paths in by_manager.items():
        if len(paths) == 1:
            parts.append(f"conflict with {who}: {paths[0]}")
        else:
            parts.append(f"conflicts with {who}:" + "".join(f"\n- {p}" for p in paths))
    count = len(causes)
    plural = "conflict" if count == 1 else "conflicts"
    return ApiError(
        409,
        "Conflict",
        f"Apply failed with {count} {plural}: " + "\n".join(parts),
        details={"name": name, "kind": kind, "causes": causes},
    )


def apply(
    current: dict[str, Any] | None,
    config: dict[str, Any],
    schema: Schema,
    *,
    manager: str,
    api_version: str,
    subresource: str,
    has_status: bool,
    force: bool,
) -> dict[str, Any]:
    """Server-side apply of `config` by `manager`: the object to store, managed fields set.

    Raises a 409 conflict when the configuration changes a field another manager owns
    (`force` takes those fields over instead).
    """
    status = subresource == "status"
    base = clone(current) if current is not None else {}
    entries = read_entries(base)
    applied_part = owned_part(config, status=status, has_status=has_status)
    current_part = owned_part(base, status=status, has_status=has_status)
    applied = field_set(applied_part, schema)
    mine = _entry_for(entries, manager, APPLY, api_version, subresource)
    conflicts: dict[Path, list[ManagedEntry]] = {}
    for entry in entries:
        if entry is mine:
            continue
        for path in applied & entry.fields:
            if path[-1][:2] == "f:":
                before = value_at(current_part, path, schema)
                if before is not _MISSING and before != value_at(applied_part, path, schema):
                    conflicts.setdefault(path, []).append(entry)
    if conflicts and not force:
        metadata = config.get("metadata") or {}
        raise conflict_error(conflicts, str(config.get("kind", "")), str(metadata.get("name", "")))
    for entry in entries:
        if entry is not mine:
            entry.fields -= set(conflicts)
    merged: dict[str, Any] = (
        merge_applied(base, applied_part, schema) if base else _without_nulls(config)
    )
    others = set().union(*(entry.fields for entry in entries if entry is not mine))
    dropped = (mine.fields - applied) - others
    remove_fields(merged, dropped, applied | others, schema)
    mine.fields = applied
    mine.time = now_rfc3339()
    write_entries(merged, entries)
    return merged
