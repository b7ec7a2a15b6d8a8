"""The OpenAPI documents of the simulated API server: `/openapi/v3` (a root listing one
document per group version, as kubectl reads them) and `/openapi/v2` (one JSON document).

Each kind's schema is its Kubernetes definition (see `schema.py`), converted from JSON schema
to OpenAPI; a kind with no shipped definition gets a permissive object schema carrying its
`x-kubernetes-group-version-kind`, and a custom resource the schema of its definition.
Every PATCH operation declares the `fieldValidation` parameter, so kubectl and helm leave
validation to the server (`kubectl apply --validate=strict`, helm's default) instead of
validating with the schemas client-side.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from slipway_simcluster.resources import Catalog, ResourceType
from slipway_simcluster.schema import Types, definition_name, referenced

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_STATUS = f"{_META}.Status"
_PATCH = f"{_META}.Patch"
_DELETE_OPTIONS = f"{_META}.DeleteOptions"
_OBJECT_META = f"{_META}.ObjectMeta"
_SCALE = "io.k8s.api.autoscaling.v1.Scale"
_PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]
_STRING = {"type": "string"}
_QUERY = {
    "dryRun": "When present, modifications are not persisted (All).",
    "fieldManager": "The name of the actor making the change.",
    "fieldValidation": "Ignore, Warn or Strict: how unknown or duplicate fields are treated.",
    "force": "Force apply: take over fields other managers own.",
    "labelSelector": "Restrict the list by labels.",
    "fieldSelector": "Restrict the list by fields.",
    "limit": "The maximum number of items to return.",
    "continue": "The continue token of the previous page.",
    "resourceVersion": "The version to list from or watch after.",
    "watch": "Stream changes instead of listing.",
    "timeoutSeconds": "How long a watch may last.",
    "propagationPolicy": "Orphan, Background or Foreground garbage collection.",
}
_WRITE_PARAMETERS = ["dryRun", "fieldManager", "fieldValidation"]
_LIST_PARAMETERS = [
    "labelSelector",
    "fieldSelector",
    "limit",
    "continue",
    "resourceVersion",
    "watch",
    "timeoutSeconds",
]


def document_path(group_version: str) -> str:
    """`api/v1` or `apis/<group>/<version>`: where a group version's document lives."""
    return "api/v1" if group_version == "v1" else f"apis/{group_version}"


def document_hash(document: dict[str, Any]) -> str:
    """The content hash a document's URL carries (clients cache by it)."""
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha512(encoded).hexdigest().upper()


def _custom_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split(".")))
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


class OpenApi:
    """Builds the documents of one cluster, cached until its served kinds change."""

    def __init__(self, catalog: Catalog, types: Types) -> None:
        self._catalog = catalog
        self._types = types
        self._cache: dict[tuple[str, int], dict[str, Any]] = {}

    def _cached(self, key: str, build: Any) -> dict[str, Any]:
        cache_key = (key, self._catalog.generation)
        if cache_key not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[cache_key] = build()
        return self._cache[cache_key]

    # Schemas.

    def _kind_schema_name(self, rt: ResourceType) -> str:
        if rt.custom:
            return _custom_name(rt)
        name = definition_name(self._types.kubernetes_version, rt.api_version, rt.kind)
        return name or f"io.k8s.simulated.{rt.group or 'core'}.{rt.version}.{rt.kind}"

    def _list_schema_name(self, rt: ResourceType) -> str:
        if not rt.custom:
            name = definition_name(self._types.kubernetes_version, rt.api_version, f"{rt.kind}List")
            if name is not None:
                return name
        return f"{self._kind_schema_name(rt)}List"

    def _own_schemas(self, rt: ResourceType) -> dict[str, Any]:
        """Schemas a kind needs that the shipped definitions lack (permissive or custom)."""
        schemas: dict[str, Any] = {}
        gvk = [_gvk(rt.group, rt.version, rt.kind)]
        kind_name, list_name = self._kind_schema_name(rt), self._list_schema_name(rt)
        defs = self._types.definitions
        if kind_name not in defs:
            custom = self._types.custom_schema(rt.api_version, rt.kind)
            schema = json.loads(json.dumps(custom)) if custom else {}
            if not schema:
                schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            properties = schema.setdefault("properties", {})
            properties.setdefault("apiVersion", {"type": "string"})
            properties.setdefault("kind", {"type": "string"})
            if _OBJECT_META not in defs:
                properties["metadata"] = {"type": "object"}
            schema.setdefault("type", "object")
            schema["x-kubernetes-group-version-kind"] = gvk
            schemas[kind_name] = schema
        if list_name not in defs:
            schemas[list_name] = {
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "items": {"type": "array", "items": {"$ref": f"#/$defs/{kind_name}"}},
                },
                "x-kubernetes-group-version-kind": [_gvk(rt.group, rt.version, f"{rt.kind}List")],
            }
        return schemas

    def _schemas(self, served: list[ResourceType], v3: bool) -> dict[str, Any]:
        """The converted schemas the kinds need, with every definition they reference."""
        defs = self._types.definitions
        own: dict[str, Any] = {}
        wanted = [_STATUS, _PATCH, _DELETE_OPTIONS]
        for rt in served:
            own.update(self._own_schemas(rt))
            wanted += [self._kind_schema_name(rt), self._list_schema_name(rt)]
            if "scale" in rt.subresources:
                wanted.append(_SCALE)
        found: dict[str, Any] = {}
        pending = [name for name in wanted if name in defs or name in own]
        while pending:
            name = pending.pop()
            if name in found:
                continue
            raw = own.get(name, defs.get(name))
            if raw is None:
                continue
            found[name] = raw
            pending.extend(_references(raw))
        prefix = "#/components/schemas/" if v3 else "#/definitions/"
        return {name: _convert(found[name], prefix, v3, name) for name in sorted(found)}

    # Operations.

    def _operation(
        self,
        rt: ResourceType,
        action: str,
        *,
        v3: bool,
        response: str,
        body: str | None = None,
        parameters: list[str] | None = None,
        kind: tuple[str, str, str] | None = None,
        content_types: list[str] | None = None,
    ) -> dict[str, Any]:
        group, version, kind_name = kind or (rt.group, rt.version, rt.kind)
        prefix = "#/components/schemas/" if v3 else "#/definitions/"
        operation: dict[str, Any] = {
            "operationId": f"{action}{rt.kind}",
            "x-kubernetes-action": action,
            "x-kubernetes-group-version-kind": _gvk(group, version, kind_name),
        }
        query = [
            {"name": name, "in": "query", "description": _QUERY[name], "uniqueItems": True}
            for name in parameters or []
        ]
        for parameter in query:
            if v3:
                parameter["schema"] = dict(_STRING)
            else:
                parameter["type"] = "string"
        if v3:
            operation["parameters"] = query
            if body is not None:
                operation["requestBody"] = {
                    "content": {
                        media: {"schema": {"$ref": f"{prefix}{body}"}}
                        for media in content_types or ["application/json"]
                    },
                    "required": True,
                }
            operation["responses"] = {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"$ref": f"{prefix}{response}"}}},
                }
            }
        else:
            if body is not None:
                query.append(
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": {"$ref": f"{prefix}{body}"},
                    }
                )
                operation["consumes"] = content_types or ["application/json"]
            operation["parameters"] = query
            operation["produces"] = ["application/json"]
            operation["responses"] = {
                "200": {"description": "OK", "schema": {"$ref": f"{prefix}{response}"}}
            }
        return operation

    def _paths(self, rt: ResourceType, v3: bool) -> dict[str, Any]:
        prefix = "/" + document_path(rt.api_version)
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        collection, item = f"{prefix}{scope}/{rt.plural}", f"{prefix}{scope}/{rt.plural}/{{name}}"
        kind, listing = self._kind_schema_name(rt), self._list_schema_name(rt)
        patch_types = [t for t in _PATCH_TYPES if not (rt.custom and "strategic" in t)]
        verbs = set(rt.verbs)

        def op(action: str, **options: Any) -> dict[str, Any]:
            return self._operation(rt, action, v3=v3, **options)

        paths: dict[str, Any] = {}
        ops: dict[str, Any] = {}
        if "list" in verbs:
            ops["get"] = op("list", response=listing, parameters=_LIST_PARAMETERS)
        if "create" in verbs:
            ops["post"] = op("post", response=kind, body=kind, parameters=_WRITE_PARAMETERS)
        if "deletecollection" in verbs:
            ops["delete"] = op("deletecollection", response=_STATUS, parameters=_LIST_PARAMETERS)
        paths[collection] = ops
        ops = {}
        if "get" in verbs:
            ops["get"] = op("get", response=kind)
        if "update" in verbs:
            ops["put"] = op("put", response=kind, body=kind, parameters=_WRITE_PARAMETERS)
        if "patch" in verbs:
            ops["patch"] = op(
                "patch",
                response=kind,
                body=_PATCH,
                parameters=[*_WRITE_PARAMETERS, "force"],
                content_types=patch_types,
            )
        if "delete" in verbs:
            ops["delete"] = op(
                "delete",
                response=_STATUS,
                body=_DELETE_OPTIONS,
                parameters=["dryRun", "propagationPolicy"],
            )
        paths[item] = ops
        if rt.namespaced and "list" in verbs:
            paths[f"{prefix}/{rt.plural}"] = {
                "get": op("list", response=listing, parameters=_LIST_PARAMETERS)
            }
        for sub in rt.subresources:
            if sub == "log":
                continue
            sub_kind = ("autoscaling", "v1", "Scale") if sub == "scale" else None
            sub_schema = _SCALE if sub == "scale" else kind
            if sub_schema not in self._types.definitions and sub == "scale":
                continue
            paths[f"{item}/{sub}"] = {
                "get": op("get", response=sub_schema, kind=sub_kind),
                "put": op(
                    "put",
                    response=sub_schema,
                    body=sub_schema,
                    parameters=_WRITE_PARAMETERS,
                    kind=sub_kind,
                ),
                "patch": op(
                    "patch",
                    response=sub_schema,
                    body=_PATCH,
                    parameters=[*_WRITE_PARAMETERS, "force"],
                    kind=sub_kind,
                    content_types=patch_types,
                ),
            }
        for path in paths:
            parameters = (
                [{"name": "name", "in": "path", "required": True}] if "{name}" in path else []
            )
            if "{namespace}" in path:
                parameters.append({"name": "namespace", "in": "path", "required": True})
            for parameter in parameters:
                if v3:
                    parameter["schema"] = dict(_STRING)
                else:
                    parameter["type"] = "string"
            if parameters:
                paths[path]["parameters"] = parameters
        return {path: ops for path, ops in paths.items() if set(ops) - {"parameters"}}

    # Documents.

    def v3_root(self) -> dict[str, Any]:
        """`GET /openapi/v3`: one entry per served group version."""
        return self._cached("root", self._build_root)

    def _build_root(self) -> dict[str, Any]:
        paths = {}
        for group_version in self._catalog.group_versions():
            path = document_path(group_version)
            document = self.v3_document(path)
            if document is not None:
                paths[path] = {
                    "serverRelativeURL": f"/openapi/v3/{path}?hash={document_hash(document)}"
                }
        return {"paths": paths}

    def v3_document(self, path: str) -> dict[str, Any] | None:
        """`GET /openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>`; None if not served."""
        group_version = next(
            (gv for gv in self._catalog.group_versions() if document_path(gv) == path), None
        )
        if group_version is None:
            return None
        return self._cached(f"v3:{group_version}", lambda: self._build_v3(group_version))

    def _build_v3(self, group_version: str) -> dict[str, Any]:
        served = [rt for rt in self._catalog.resources if rt.api_version == group_version]
        paths: dict[str, Any] = {}
        for rt in served:
            paths.update(self._paths(rt, v3=True))
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes (simulated)", "version": self._types.kubernetes_version},
            "paths": paths,
            "components": {"schemas": self._schemas(served, v3=True)},
        }

    def v2(self) -> dict[str, Any]:
        """`GET /openapi/v2`: every group version in one Swagger 2.0 document."""
        return self._cached("v2", self._build_v2)

    def _build_v2(self) -> dict[str, Any]:
        served = self._catalog.resources
        paths: dict[str, Any] = {}
        for rt in served:
            paths.update(self._paths(rt, v3=False))
        return {
            "swagger": "2.0",
            "info": {"title": "Kubernetes (simulated)", "version": self._types.kubernetes_version},
            "paths": paths,
            "definitions": self._schemas(served, v3=False),
        }


def _references(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        target = referenced(node)
        if target is not None:
            found.append(target)
        for value in node.values():
            found.extend(_references(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_references(item))
    return found


_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _convert(node: Any, prefix: str, v3: bool, name: str = "") -> Any:
    """A JSON-schema node as OpenAPI: `#/$defs/` references renamed, `null` types dropped,
    int-or-string and quantity unions as real servers describe them."""
    if not isinstance(node, dict):
        return node
    if name == "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
        return {
            "type": "string",
            "format": "int-or-string",
            "description": node.get("description", ""),
        }
    if name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
        return {"type": "string", "description": node.get("description", "")}
    converted: dict[str, Any] = {}
    target = referenced(node) if "$ref" in node else None
    for key, value in node.items():
        if key == "$ref":
            continue
        if key == "type":
            types = [value] if isinstance(value, str) else [t for t in value if t != "null"]
            if len(types) == 1:
                converted["type"] = types[0]
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            converted[key] = {k: _convert(v, prefix, v3) for k, v in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            converted[key] = [_convert(v, prefix, v3) for v in value]
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            converted[key] = _convert(value, prefix, v3)
        else:
            converted[key] = value
    if target is not None:
        reference = {"$ref": f"{prefix}{target}"}
        if not converted:
            return reference
        if v3:
            # OpenAPI 3.0 ignores siblings of `$ref`; real servers wrap it in `allOf`.
            return {"allOf": [reference], **converted}
        return {**reference, **converted}
    return converted
