"""A minimal OpenAPI v3 discovery, enough for kubectl's validation checks.

kubectl (create/apply -f) asks /openapi/v3 whether the server validates fields itself
(the `fieldValidation` query parameter of each kind's PATCH operation); when it does,
kubectl leaves validation to the server and needs no schemas. The simulated cluster
accepts the parameter and checks what it models (names, selectors, ports, …).
"""

from __future__ import annotations

from typing import Any

from slipway_simcluster.resources import ALL_RESOURCES, GROUP_VERSIONS

_SPEC_VERSION = "1"


def _document_path(group_version: str) -> str:
    return "api/v1" if group_version == "v1" else f"apis/{group_version}"


def openapi_root() -> dict[str, Any]:
    """`GET /openapi/v3`: one entry per served group version."""
    return {
        "paths": {
            _document_path(gv): {
                "serverRelativeURL": f"/openapi/v3/{_document_path(gv)}?hash={_SPEC_VERSION}"
            }
            for gv in GROUP_VERSIONS
        }
    }


def openapi_document(path: str) -> dict[str, Any] | None:
    """`GET /openapi/v3/api/v1` or `/openapi/v3/apis/apps/v1`: PATCH operations per kind."""
    group_version = next((gv for gv in GROUP_VERSIONS if _document_path(gv) == path), None)
    if group_version is None:
        return None
    group = GROUP_VERSIONS[group_version]
    paths: dict[str, Any] = {}
    for rt in ALL_RESOURCES:
        if rt.group != group or "patch" not in rt.verbs:
            continue
        prefix = f"/{_document_path(group_version)}"
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        paths[f"{prefix}{scope}/{rt.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{rt.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {
                    "group": rt.group,
                    "version": rt.version,
                    "kind": rt.kind,
                },
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (simulated)", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": {}},
    }
