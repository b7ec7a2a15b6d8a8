"""Field validation as the API server does it for `fieldValidation=Strict|Warn|Ignore`:
fields the kind's schema does not know are an error (Strict, kubectl's default) or a
warning (Warn, the default of other clients). Untyped values accept anything."""

from __future__ import annotations

from typing import Any

from slipway_simcluster.errors import bad_request
from slipway_simcluster.resources import ResourceType
from slipway_simcluster.schema import Schema


def unknown_fields(value: Any, schema: Schema, path: str = "") -> list[str]:
    """Dotted paths of the fields in `value` its schema does not declare.

    Keys starting with `$` (strategic merge patch directives) are not fields.
    """
    shape = schema.shape
    found: list[str] = []
    if isinstance(value, dict) and shape == "struct":
        node = schema.resolved
        properties = node.get("properties") or {}
        open_ended = node.get("x-kubernetes-preserve-unknown-fields") is True
        for key, child in value.items():
            if key.startswith("$"):
                continue
            where = f"{path}.{key}" if path else key
            if key in properties:
                found += unknown_fields(child, schema.field(key), where)
            elif not open_ended:
                found.append(where)
    elif isinstance(value, dict) and shape == "map":
        for key, child in value.items():
            if not key.startswith("$"):
                found += unknown_fields(child, schema.field(key), f"{path}[{key}]")
    elif isinstance(value, list) and shape == "list":
        elements = schema.items()
        for index, item in enumerate(value):
            found += unknown_fields(item, elements, f"{path}[{index}]")
    return found


def check_fields(rt: ResourceType, schema: Schema, body: Any, directive: str | None) -> list[str]:
    """Apply a `fieldValidation` directive to a request body; returns warnings to send.

    Strict raises 400 BadRequest naming every unknown field; Warn (the default) returns
    them as warnings; Ignore checks nothing.
    """
    mode = (directive or "Warn").capitalize()
    if mode == "Ignore" or schema.untyped:
        return []
    if mode not in ("Strict", "Warn"):
        raise bad_request(
            f'fieldValidation must be one of "Ignore", "Warn" or "Strict", not "{directive}"'
        )
    fields = unknown_fields(body, schema)
    if not fields:
        return []
    messages = [f'unknown field "{field}"' for field in fields]
    if mode == "Strict":
        raise bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
            f"strict decoding error: {', '.join(messages)}"
        )
    return messages


def prune_unknown(value: Any, schema: Schema) -> None:
    """Drop, in place, the fields the schema does not declare (a real API server cannot
    store them: its typed objects have nowhere to keep them)."""
    shape = schema.shape
    if isinstance(value, dict) and shape == "struct":
        node = schema.resolved
        properties = node.get("properties") or {}
        open_ended = node.get("x-kubernetes-preserve-unknown-fields") is True
        for key in list(value):
            if key in properties:
                prune_unknown(value[key], schema.field(key))
            elif not open_ended:
                del value[key]
    elif isinstance(value, dict) and shape == "map":
        for key, child in value.items():
            prune_unknown(child, schema.field(key))
    elif isinstance(value, list) and shape == "list":
        elements = schema.items()
        for item in value:
            prune_unknown(item, elements)
