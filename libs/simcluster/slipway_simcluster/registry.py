"""Write semantics of the simulated API server: create, update, patch, delete, status, scale.

This layer knows Kubernetes' rules (preconditions, generation, status subresources,
cascading deletes) and nothing of HTTP; the API routes and the simulated controllers both
write through it or, for status the controllers own, straight to the store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import yaml

from slipway_simcluster import fields
from slipway_simcluster import patch as patches
from slipway_simcluster.clone import clone
from slipway_simcluster.errors import (
    FieldError,
    bad_request,
    conflict,
    forbidden,
    invalid,
    method_not_allowed,
    not_found,
    success_status,
    unsupported_media_type,
)
from slipway_simcluster.kinds import strategy_for
from slipway_simcluster.meta import LabelSelector, load_yaml, now_rfc3339, random_suffix
from slipway_simcluster.resources import NAMESPACES, PODS, ResourceType
from slipway_simcluster.schema import UNTYPED, Schema, Types
from slipway_simcluster.store import Store
from slipway_simcluster.strategies import scrub_for_create, validate_metadata
from slipway_simcluster.validation import prune_unknown

PROTECTED_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class Registry:
    """Kubernetes write semantics over a Store.

    `field_manager` names who writes (the API passes the request's field manager); writes
    without one (the simulated controllers') leave managed fields alone.
    """

    def __init__(self, store: Store, types: Types | None = None) -> None:
        self.store = store
        self.types = types or Types()

    def schema(self, rt: ResourceType) -> Schema:
        """The type description of a kind (untyped when unknown)."""
        return self.types.of_kind(rt.api_version, rt.kind)

    # Create.

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Create an object (201 semantics); raises ApiError on any rule broken."""
        obj = scrub_for_create(_as_object(body, rt))
        return self._create(rt, namespace, obj, dry_run=dry_run, field_manager=field_manager)

    def _create(
        self,
        rt: ResourceType,
        namespace: str | None,
        obj: dict[str, Any],
        *,
        dry_run: bool,
        field_manager: str | None,
    ) -> dict[str, Any]:
        _require_verb(rt, "create")
        metadata = obj["metadata"]
        if rt.namespaced:
            namespace = namespace or metadata.get("namespace") or "default"
            if metadata.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace
            self._require_namespace(namespace)
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = f"{metadata['generateName']}{random_suffix()}"
        validate_metadata(rt, obj)
        if "status" in rt.subresources:
            obj.pop("status", None)  # status is written through /status only
        metadata["uid"] = str(uuid.uuid4())  # some defaults name it (a Job's selector)
        prune_unknown(obj, self.schema(rt))
        strategy_for(rt).prepare_create(obj, self.store)
        if field_manager:
            fields.record_update(
                None,
                obj,
                self.schema(rt),
                manager=field_manager,
                api_version=rt.api_version,
                subresource="",
                has_status="status" in rt.subresources,
            )
        if dry_run:
            return obj
        return self.store.create(rt, obj)

    def _require_namespace(self, namespace: str) -> None:
        if self.store.peek(NAMESPACES, "", namespace) is None:
            raise not_found("namespaces", "", namespace)

    # Update.

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Replace an object (PUT) or its status; 409 Conflict on a stale resourceVersion."""
        _require_verb(rt, "update")
        old = self.store.get(rt, namespace, name)
        new = _as_object(body, rt)
        metadata = new["metadata"]
        if metadata.get("name", name) != name:
            raise bad_request(
                f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and metadata.get("namespace", namespace) != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        expected = metadata.get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        managed = metadata.get("managedFields")
        if subresource == "status":
            status = new.get("status")
            new = clone(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            metadata["name"] = name
            if rt.namespaced:
                metadata["namespace"] = namespace
            for key in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
                if key in old["metadata"]:
                    metadata[key] = old["metadata"][key]
            if "status" in rt.subresources:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
            prune_unknown(new, self.schema(rt))
            strategy_for(rt).prepare_update(new, old, self.store)
        self._manage_fields(rt, old, new, managed, field_manager, subresource)
        if dry_run:
            return new
        if new == old or _same_ignoring_version(new, old):
            return self.store.peek(rt, namespace, name) or old  # no-op writes keep the version
        return self.store.replace(rt, new)

    def _manage_fields(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
        managed: Any,
        field_manager: str | None,
        subresource: str | None,
    ) -> None:
        """Managed fields of an update: recorded for the writer, unless the request set them
        itself (as kubectl does when it hands client-side apply fields over to server-side
        apply); `[{}]` clears them, leaving them out keeps them."""
        old_managed = old["metadata"].get("managedFields")
        if managed is not None and managed != old_managed:
            if managed == [{}]:
                new["metadata"].pop("managedFields", None)
            else:
                new["metadata"]["managedFields"] = managed
            return
        if old_managed is None:
            new["metadata"].pop("managedFields", None)
        else:
            new["metadata"]["managedFields"] = clone(old_managed)
        if field_manager:
            fields.record_update(
                old,
                new,
                self.schema(rt),
                manager=field_manager,
                api_version=rt.api_version,
                subresource=subresource or "",
                has_status="status" in rt.subresources,
            )

    # Patch.

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        *,
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Apply a PATCH; returns (object, created). Apply-patch creates a missing object."""
        _require_verb(rt, "patch")
        media = content_type.split(";")[0].strip().lower()
        if media == APPLY_PATCH:
            return self._apply(
                rt, namespace, name, body, subresource, field_manager, force, dry_run
            )
        if media == STRATEGIC_MERGE_PATCH and rt.custom:
            raise unsupported_media_type(media)  # custom resources take no strategic merge
        document = _parse_json(body)
        current = self.store.get(rt, namespace, name)
        patched = _apply_patch(media, current, document, self.schema(rt))
        updated = self.update(
            rt,
            namespace,
            name,
            patched,
            subresource=subresource,
            dry_run=dry_run,
            field_manager=field_manager,
        )
        return updated, False

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        subresource: str | None,
        field_manager: str | None,
        force: bool,
        dry_run: bool,
    ) -> tuple[dict[str, Any], bool]:
        """Server-side apply: merge the configuration, remove what the manager dropped."""
        if not field_manager:
            raise invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    FieldError(
                        "fieldManager",
                        "Required value: is required for apply patch",
                        "FieldValueRequired",
                    )
                ],
            )
        try:
            document = load_yaml(body or b"{}")
        except yaml.YAMLError as error:
            raise bad_request(f"error decoding YAML: {error}") from None
        config = _as_object(document, rt)
        metadata = config["metadata"]
        if metadata.get("name", name) != name:
            raise bad_request("the name of the object does not match the name on the URL")
        if rt.namespaced and metadata.get("namespace") not in (None, "", namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        metadata["name"] = name
        if rt.namespaced:
            metadata["namespace"] = namespace
        config["apiVersion"], config["kind"] = rt.api_version, rt.kind
        current = self.store.peek(rt, namespace, name)
        if current is None and subresource is not None:
            raise not_found(rt.plural, rt.group, name)
        expected = metadata.pop("resourceVersion", None)
        if current is not None and expected and expected != current["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        for key in ("uid", "creationTimestamp", "generation", "managedFields", "selfLink"):
            metadata.pop(key, None)
        result = fields.apply(
            current,
            config,
            self.schema(rt),
            manager=field_manager,
            api_version=rt.api_version,
            subresource=subresource or "",
            has_status="status" in rt.subresources,
            force=force,
        )
        if current is None:
            return self._create(rt, namespace, result, dry_run=dry_run, field_manager=None), True
        updated = self.update(rt, namespace, name, result, subresource=subresource, dry_run=dry_run)
        return updated, False

    # Scale subresource.

    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """The autoscaling/v1 Scale of a Deployment, StatefulSet or ReplicationController."""
        return scale_of(self.store.get(rt, namespace, name))

    def update_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """PUT a Scale: sets the workload's spec.replicas."""
        scale = body if isinstance(body, dict) else {}
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    FieldError(
                        "spec.replicas",
                        f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    )
                ],
            )
        workload = self.store.get(rt, namespace, name)
        expected = (scale.get("metadata") or {}).get("resourceVersion")
        if expected and expected != workload["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        workload.setdefault("spec", {})["replicas"] = replicas
        updated = self.update(
            rt, namespace, name, workload, dry_run=dry_run, field_manager=field_manager
        )
        return scale_of(updated)

    def patch_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        content_type: str,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """PATCH a Scale (merge, strategic or JSON patch)."""
        media = content_type.split(";")[0].strip().lower()
        if media == APPLY_PATCH:
            try:
                document = load_yaml(body or b"{}")
            except yaml.YAMLError as error:
                raise bad_request(f"error decoding YAML: {error}") from None
            media = MERGE_PATCH
        else:
            document = _parse_json(body)
        patched = _apply_patch(media, self.get_scale(rt, namespace, name), document, UNTYPED)
        return self.update_scale(
            rt, namespace, name, patched, dry_run=dry_run, field_manager=field_manager
        )

    # Delete.

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete an object; returns what a real API server returns for that kind."""
        _require_verb(rt, "delete")
        options = options or {}
        current = self.store.get(rt, namespace, name)
        preconditions = options.get("preconditions") or {}
        if preconditions.get("uid") and preconditions["uid"] != current["metadata"]["uid"]:
            raise conflict(rt.plural, rt.group, name)
        expected = preconditions.get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        if rt.key == NAMESPACES.key:
            return self._delete_namespace(current, dry_run)
        if dry_run:
            return current
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is True:
            policy = "Orphan"
        if policy == "Orphan":
            self._orphan_dependents(current["metadata"]["uid"])
        deleted = self.store.delete(rt, namespace, name)
        if rt.key == PODS.key:
            deleted = clone(deleted)
            deleted["metadata"]["deletionTimestamp"] = now_rfc3339()
            deleted["metadata"]["deletionGracePeriodSeconds"] = 0
            return deleted
        return success_status(
            {"name": name, "group": rt.group, "kind": rt.plural, "uid": current["metadata"]["uid"]}
        )

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        matches_fields: Callable[[dict[str, Any]], bool],
        options: dict[str, Any] | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """DELETE on a collection: delete every object matching the selectors."""
        _require_verb(rt, "deletecollection")
        for obj in list(self.store.objects(rt, namespace)):
            metadata = obj["metadata"]
            if labels.matches(metadata.get("labels")) and matches_fields(obj):
                self.delete(
                    rt, metadata.get("namespace", ""), metadata["name"], options, dry_run=dry_run
                )
        return success_status()

    def _orphan_dependents(self, uid: str) -> None:
        for rt in self.store.catalog.namespaced():
            for dependent in self.store.owned_by(uid, rt):
                updated = clone(dependent)
                refs = updated["metadata"].get("ownerReferences") or []
                updated["metadata"]["ownerReferences"] = [
                    ref for ref in refs if ref.get("uid") != uid
                ]
                if not updated["metadata"]["ownerReferences"]:
                    del updated["metadata"]["ownerReferences"]
                self.store.replace(rt, updated)

    def _delete_namespace(self, namespace: dict[str, Any], dry_run: bool) -> dict[str, Any]:
        name = namespace["metadata"]["name"]
        if name in PROTECTED_NAMESPACES:
            raise forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
        terminating = clone(namespace)
        terminating["metadata"]["deletionTimestamp"] = now_rfc3339()
        terminating["status"] = {"phase": "Terminating"}
        if dry_run:
            return terminating
        # The simulated namespace controller finishes termination at once: contents first.
        terminating = self.store.replace(NAMESPACES, terminating)
        for rt in self.store.catalog.namespaced():
            for obj in list(self.store.objects(rt, name)):
                self.store.delete(rt, name, obj["metadata"]["name"])
        self.store.delete(NAMESPACES, "", name)
        return terminating


def scale_of(workload: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a workload."""
    metadata = workload["metadata"]
    selector = LabelSelector.from_object((workload.get("spec") or {}).get("selector"))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": int((workload.get("spec") or {}).get("replicas", 0))},
        "status": {
            "replicas": int((workload.get("status") or {}).get("replicas", 0)),
            "selector": str(selector),
        },
    }


def _require_verb(rt: ResourceType, verb: str) -> None:
    if verb not in rt.verbs:
        raise method_not_allowed()


def _as_object(body: Any, rt: ResourceType) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"the body of the request must be a {rt.kind} object")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind and kind != rt.kind:
        raise bad_request(
            f"the kind of the provided object ({kind}) does not match the URL ({rt.kind})"
        )
    if api_version and api_version != rt.api_version:
        raise bad_request(
            f"the API version of the provided object ({api_version}) does not match the URL ({rt.api_version})"
        )
    obj = clone(body)
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    return obj


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise bad_request(f"error decoding JSON: {error}") from None


def _apply_patch(media: str, current: dict[str, Any], document: Any, schema: Schema) -> Any:
    if media == MERGE_PATCH:
        if not isinstance(document, dict):
            raise bad_request("a merge patch must be a JSON object")
        return patches.merge_patch(current, document)
    if media == STRATEGIC_MERGE_PATCH:
        if not isinstance(document, dict):
            raise bad_request("a strategic merge patch must be a JSON object")
        return patches.strategic_merge_patch(current, document, schema)
    if media == JSON_PATCH:
        return patches.json_patch(current, document)
    raise unsupported_media_type(media)


def _same_ignoring_version(new: dict[str, Any], old: dict[str, Any]) -> bool:
    stripped_new = clone(new)
    stripped_new.get("metadata", {}).pop("resourceVersion", None)
    stripped_old = clone(old)
    stripped_old.get("metadata", {}).pop("resourceVersion", None)
    stripped_new.setdefault("apiVersion", old.get("apiVersion"))
    stripped_new.setdefault("kind", old.get("kind"))
    return stripped_new == stripped_old
