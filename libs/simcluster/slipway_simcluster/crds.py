"""The simulated apiextensions controller: a CustomResourceDefinition's served versions
become resource types of the cluster (discovery, OpenAPI, the generic store) as soon as it
is created, with its names accepted and the Established condition; deleting it deletes
its custom resources."""

from __future__ import annotations

from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.meta import now_rfc3339
from slipway_simcluster.resources import CUSTOM_RESOURCE_DEFINITIONS, ResourceType
from slipway_simcluster.schema import Types
from slipway_simcluster.store import Store

_CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
Object = dict[str, Any]


def custom_types(definition: Object) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves, one per served version."""
    spec = definition.get("spec") or {}
    names = spec.get("names") or {}
    kind = str(names.get("kind", ""))
    types = []
    for version in spec.get("versions") or []:
        if not isinstance(version, dict) or not version.get("served", True):
            continue
        declared = version.get("subresources") or {}
        subresources = {}
        if "status" in declared:
            subresources["status"] = kind
        if (declared.get("scale") or {}).get("specReplicasPath") == ".spec.replicas":
            subresources["scale"] = "Scale"
        types.append(
            ResourceType(
                str(spec.get("group", "")),
                str(version.get("name", "")),
                str(names.get("plural", "")),
                str(names.get("singular") or kind.lower()),
                kind,
                namespaced=spec.get("scope") == "Namespaced",
                verbs=list(_CRUD),
                short_names=list(names.get("shortNames") or []),
                subresources=subresources,
                categories=list(names.get("categories") or []),
                custom=True,
            )
        )
    return types


class CustomResourceDefinitionController:
    """Serves, or stops serving, the custom resources of one definition."""

    def __init__(self, store: Store, types: Types) -> None:
        self._store = store
        self._types = types

    def register_all(self) -> None:
        """Serve every stored definition (after a restart, before anything reads them)."""
        for definition in self._store.objects(CUSTOM_RESOURCE_DEFINITIONS):
            self._serve(definition)

    def reconcile(self, name: str) -> None:
        """Follow the definition: serve its versions and accept its names, or remove them."""
        definition = self._store.peek(CUSTOM_RESOURCE_DEFINITIONS, "", name)
        if definition is None:
            removed = self._store.catalog.remove_custom(name)
            for rt in removed:
                self._types.set_custom(rt.api_version, rt.kind, None)
            if removed:
                self._store.drop_all(removed[0])
            return
        self._serve(definition)
        self._accept(definition)

    def _serve(self, definition: Object) -> None:
        served = custom_types(definition)
        versions = {v.get("name"): v for v in (definition.get("spec") or {}).get("versions") or []}
        for rt in served:
            schema = ((versions.get(rt.version) or {}).get("schema") or {}).get("openAPIV3Schema")
            self._types.set_custom(
                rt.api_version, rt.kind, schema if isinstance(schema, dict) else None
            )
        self._store.catalog.set_custom(definition["metadata"]["name"], served)

    def _accept(self, definition: Object) -> None:
        spec = definition.get("spec") or {}
        names = dict(spec.get("names") or {})
        old = definition.get("status") or {}
        storage = [v.get("name") for v in spec.get("versions") or [] if v.get("storage")]
        stored = list(old.get("storedVersions") or [])
        stored += [name for name in storage if name not in stored]
        now = now_rfc3339()
        previous = {c.get("type"): c for c in old.get("conditions") or []}
        conditions = []
        for kind, reason, message in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ):
            since = (previous.get(kind) or {}).get("lastTransitionTime") or now
            conditions.append(
                {
                    "type": kind,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": since,
                }
            )
        status = {"acceptedNames": names, "storedVersions": stored, "conditions": conditions}
        if old != status:
            updated = clone(definition)
            updated["status"] = status
            self._store.replace(CUSTOM_RESOURCE_DEFINITIONS, updated)
