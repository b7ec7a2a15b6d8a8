"""Type descriptions of the built-in kinds, for OpenAPI documents, server-side apply and
strategic merge patch.

They come from the JSON schemas of the Kubernetes OpenAPI definitions that the
`kubernetes-validate` package ships for each Kubernetes minor version (read locally, never
downloaded). Without that package, or for a kind it does not describe, a kind is untyped:
maps merge key by key, lists are replaced whole (keyed lists that strategic merge patch
knows by name excepted), as structured-merge-diff treats a schema-less object.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway_simcluster.clone import clone

log = logging.getLogger(__name__)

SCHEMA_PACKAGE = "kubernetes_validate"
DEFAULT_KUBERNETES_VERSION = "v1.32.0"
_REF_PREFIX = "#/$defs/"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
# Lists strategic merge patch merges element-wise when no schema says so, with the key that
# identifies an element (what kubectl and the Python client rely on most).
_FALLBACK_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "hostAliases": "ip",
}
# Key fields the API server defaults before it compares list elements (a port's protocol).
KEY_DEFAULTS = {"protocol": "TCP"}


def _schema_root() -> Path | None:
    spec = importlib.util.find_spec(SCHEMA_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


def _minor(version: str) -> tuple[int, int]:
    match = re.match(r"v?(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


@functools.lru_cache(maxsize=4)
def definitions(kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> dict[str, Any]:
    """The definitions of a Kubernetes version (the nearest one shipped), or {} if none is."""
    root = _schema_root()
    if root is None or not root.is_dir():
        log.warning("simulated cluster: %s is not installed: kinds are untyped", SCHEMA_PACKAGE)
        return {}
    shipped = sorted(
        (_minor(path.name), path)
        for path in root.iterdir()
        if path.name.endswith("-local") and (path / "_definitions.json").is_file()
    )
    if not shipped:
        return {}
    wanted = _minor(kubernetes_version)
    older = [entry for entry in shipped if entry[0] <= wanted]
    _, directory = older[-1] if older else shipped[0]
    document = json.loads((directory / "_definitions.json").read_text())
    return dict(document.get("$defs") or {})


@functools.lru_cache(maxsize=4)
def _kinds(kubernetes_version: str) -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, definition in definitions(kubernetes_version).items():
        for gvk in definition.get("x-kubernetes-group-version-kind") or []:
            index[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name
    return index


def definition_name(kubernetes_version: str, api_version: str, kind: str) -> str | None:
    """The definition describing a kind (`io.k8s.api.apps.v1.Deployment`), if shipped."""
    group, _, version = api_version.rpartition("/")
    return _kinds(kubernetes_version).get((group, version, kind))


def referenced(schema: Any) -> str | None:
    """The definition a schema node points to (`$ref`, or a single `allOf`), if any."""
    if not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        return ref[len(_REF_PREFIX) :]
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return referenced(all_of[0])
    return None


@dataclass(frozen=True)
class Schema:
    """One node of a type description: a struct, map, list, scalar, or untyped value.

    `raw` is the schema of the field as its parent declares it (where the patch strategy
    and list type live); `$ref`s are followed on demand.
    """

    raw: dict[str, Any]
    defs: dict[str, Any]
    name: str = ""  # the field name, for the untyped fallbacks

    @property
    def resolved(self) -> dict[str, Any]:
        """The node with references followed."""
        node, seen = self.raw, 0
        while (target := referenced(node)) is not None and seen < 20:
            node, seen = self.defs.get(target, {}), seen + 1
        return node

    @property
    def untyped(self) -> bool:
        """True if nothing is known about this node's shape."""
        node = self.resolved
        return not node or (
            _types(node) <= {"object"}
            and "properties" not in node
            and "additionalProperties" not in node
        )

    @property
    def shape(self) -> str:
        """ "struct", "map", "list", "scalar" or "untyped"."""
        node = self.resolved
        if self.untyped:
            return "untyped"
        types = _types(node)
        if "array" in types:
            return "list"
        if "object" in types or "properties" in node or "additionalProperties" in node:
            return "struct" if "properties" in node else "map"
        return "scalar"

    def field(self, key: str) -> Schema:
        """The schema of a struct field or map value (untyped when unknown)."""
        node = self.resolved
        properties = node.get("properties")
        if isinstance(properties, dict) and key in properties:
            return Schema(properties[key], self.defs, key)
        additional = node.get("additionalProperties")
        if isinstance(additional, dict):
            return Schema(additional, self.defs, key)
        return Schema({}, self.defs, key)

    def items(self) -> Schema:
        """The schema of a list's elements."""
        items = self.resolved.get("items")
        return Schema(items if isinstance(items, dict) else {}, self.defs, self.name)

    def _extension(self, name: str) -> Any:
        if name in self.raw:
            return self.raw[name]
        return self.resolved.get(name)

    @property
    def atomic(self) -> bool:
        """True if the value is owned and replaced as a whole (server-side apply)."""
        shape = self.shape
        if shape == "list":
            return self.list_type == "atomic"
        if shape in ("struct", "map"):
            return bool(self._extension("x-kubernetes-map-type") == "atomic")
        return shape == "scalar"

    @property
    def list_type(self) -> str:
        """`map`, `set` or `atomic` (the default of typed lists, as in structured-merge-diff)."""
        declared = self._extension("x-kubernetes-list-type")
        if declared in ("map", "set", "atomic"):
            return str(declared)
        return "atomic"

    @property
    def list_keys(self) -> tuple[str, ...]:
        """The fields identifying an element of a `map` list."""
        keys = self._extension("x-kubernetes-list-map-keys")
        return tuple(str(k) for k in keys) if isinstance(keys, list) else ()

    @property
    def patch_strategy(self) -> set[str]:
        """Strategic merge patch strategies of this field (`merge`, `retainKeys`, …)."""
        strategy = self._extension("x-kubernetes-patch-strategy")
        if isinstance(strategy, str):
            return {part.strip() for part in strategy.split(",") if part.strip()}
        if self.untyped and self.name in _FALLBACK_MERGE_KEYS:
            return {"merge"}
        return set()

    @property
    def patch_merge_key(self) -> str | None:
        """The key strategic merge patch matches list elements by."""
        key = self._extension("x-kubernetes-patch-merge-key")
        if isinstance(key, str):
            return key
        if self.untyped:
            return _FALLBACK_MERGE_KEYS.get(self.name)
        return None


def _types(node: dict[str, Any]) -> set[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {str(t) for t in declared if t != "null"}
    return set()


UNTYPED = Schema({}, {})


class Types:
    """The type descriptions of one Kubernetes version, loaded on first use."""

    def __init__(self, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION) -> None:
        self.kubernetes_version = kubernetes_version
        self._custom: dict[tuple[str, str], dict[str, Any]] = {}

    @property
    def definitions(self) -> dict[str, Any]:
        """Every definition shipped for this version (empty without the schema package)."""
        return definitions(self.kubernetes_version)

    def set_custom(self, api_version: str, kind: str, schema: dict[str, Any] | None) -> None:
        """Describe a custom resource from its CustomResourceDefinition (None forgets it)."""
        if schema is None:
            self._custom.pop((api_version, kind), None)
            return
        # Every object has these, whether its definition's schema names them or not.
        described = clone(schema)
        properties = described.setdefault("properties", {})
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = {"$ref": f"{_REF_PREFIX}{_OBJECT_META}"}
        described.setdefault("type", "object")
        self._custom[(api_version, kind)] = described

    def custom_schema(self, api_version: str, kind: str) -> dict[str, Any] | None:
        """The openAPIV3Schema of a custom resource, if its definition gives one."""
        return self._custom.get((api_version, kind))

    def of_kind(self, api_version: str, kind: str) -> Schema:
        """The schema of a kind; untyped when unknown."""
        custom = self._custom.get((api_version, kind))
        if custom is not None:
            return Schema(custom, self.definitions)
        name = definition_name(self.kubernetes_version, api_version, kind)
        if name is None:
            return UNTYPED
        return Schema({"$ref": f"{_REF_PREFIX}{name}"}, self.definitions)
