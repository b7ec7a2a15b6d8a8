"""PATCH bodies: JSON merge patch, strategic merge patch and JSON patch."""

from __future__ import annotations

from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.errors import ApiError, bad_request
from slipway_simcluster.schema import UNTYPED, Schema

_DELETE = object()


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch (`null` deletes, objects merge, the rest replaces)."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, schema: Schema = UNTYPED) -> Any:
    """Apply a strategic merge patch, as the API server does for built-in kinds.

    The kind's schema says which lists merge element by element and by which key
    (containers by name, ports by number, …) and which structs keep only the patch's keys
    (`retainKeys`); lists it does not mark are replaced whole. Directives honoured:
    `$patch: replace|delete|merge`, `$retainKeys`, `$deleteFromPrimitiveList/…` and
    `$setElementOrder/…`. Without a schema, the well-known keyed lists still merge.
    """
    result = _strategic(target, patch, schema)
    return {} if result is _DELETE else result


def _strategic(target: Any, patch: Any, schema: Schema) -> Any:
    if not isinstance(patch, dict):
        return clone(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            kept = [item for item in result.get(field) or [] if item not in (value or [])]
            if kept:
                result[field] = kept
            else:
                result.pop(field, None)
        elif key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value if isinstance(value, list) else []
        elif key.startswith("$"):
            continue  # $retainKeys is applied below, $patch: merge is the default
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(schema.field(key), result.get(key), value)
        else:
            merged = _strategic(result.get(key), value, schema.field(key))
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
    for field, order in orders.items():
        if isinstance(result.get(field), list):
            result[field] = _reorder(schema.field(field), result[field], order)
    retained = patch.get("$retainKeys")
    if isinstance(retained, list):
        result = {k: v for k, v in result.items() if k in retained}
    return result


def _list_merge_key(field: Schema, items: list[Any]) -> str | None:
    key = field.patch_merge_key
    if key is None and field.untyped and field.name == "ports" and items:
        # Without a schema: container ports are keyed by containerPort, service ports by port.
        return "containerPort" if any("containerPort" in item for item in items) else "port"
    return key


def _merge_list(field: Schema, current: Any, patch: list[Any]) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [clone(item) for item in patch if not (isinstance(item, dict) and "$patch" in item)]
    dict_items = all(isinstance(item, dict) for item in patch)
    merge_key = _list_merge_key(field, patch) if dict_items else None
    merges = "merge" in field.patch_strategy or (field.untyped and merge_key is not None)
    if not merges or not isinstance(current, list):
        return [
            clone(item)
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "delete")
        ]
    if merge_key is None:
        # A merged list of scalars (finalizers): a union that keeps the current order.
        return [clone(item) for item in current] + [
            clone(item) for item in patch if item not in current
        ]
    result = [clone(item) for item in current]
    elements = field.items()
    for item in patch:
        key_value = item.get(merge_key)
        index = next(
            (
                i
                for i, existing in enumerate(result)
                if isinstance(existing, dict) and existing.get(merge_key) == key_value
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            merged = _strategic({}, item, elements)
            if merged is not _DELETE:
                result.append(merged)
        else:
            result[index] = _strategic(result[index], item, elements)
    return result


def _reorder(field: Schema, items: list[Any], order: list[Any]) -> list[Any]:
    """Put list elements in the order a `$setElementOrder` directive gives; others follow."""
    merge_key = _list_merge_key(field, [o for o in order if isinstance(o, dict)])

    def identity(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [identity(entry) for entry in order]
    placed = [item for key in wanted for item in items if identity(item) == key]
    return placed + [item for item in items if identity(item) not in wanted]


def json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test)."""
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be a list of operations")
    document = clone(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid JSON patch operation: {operation!r}")
        op, path = operation["op"], _pointer(operation["path"])
        if op == "add":
            document = _add(document, path, clone(operation.get("value")))
        elif op == "remove":
            document, _ = _remove(document, path)
        elif op == "replace":
            document, _ = _remove(document, path)
            document = _add(document, path, clone(operation.get("value")))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            if op == "move":
                document, value = _remove(document, source)
            else:
                value = clone(_get(document, source))
            document = _add(document, path, value)
        elif op == "test":
            if _get(document, path) != operation.get("value"):
                raise ApiError(
                    422, "Invalid", f"JSON patch test operation failed at {operation['path']}"
                )
        else:
            raise bad_request(f"unknown JSON patch op {op!r}")
    return document


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise bad_request(f"invalid JSON pointer {text!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _container(document: Any, path: list[str]) -> Any:
    current = document
    for part in path[:-1]:
        current = _child(current, part)
    return current


def _child(current: Any, part: str) -> Any:
    try:
        if isinstance(current, list):
            return current[int(part)]
        return current[part]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ApiError(422, "Invalid", f"JSON patch path not found at {part!r}") from None


def _get(document: Any, path: list[str]) -> Any:
    current = document
    for part in path:
        current = _child(current, part)
    return current


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent, last = _container(document, path), path[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "Invalid", f"JSON patch cannot add at /{'/'.join(path)}")
    return document


def _remove(document: Any, path: list[str]) -> tuple[Any, Any]:
    if not path:
        return None, document
    parent, last = _container(document, path), path[-1]
    value = _child(parent, last)
    if isinstance(parent, list):
        parent.pop(int(last))
    else:
        parent.pop(last)
    return document, value
