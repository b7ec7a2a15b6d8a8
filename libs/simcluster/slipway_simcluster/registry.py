"""Write semantics of the simulated API server: create, update, patch, delete, status, scale.

This layer knows Kubernetes' rules (preconditions, generation, status subresources,
cascading deletes) and nothing of HTTP; the API routes and the simulated controllers both
write through it or, for status the controllers own, straight to the store.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import yaml

from slipway_simcluster import patch as patches
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
from slipway_simcluster.meta import LabelSelector, now_rfc3339, random_suffix
from slipway_simcluster.resources import (
    DEPLOYMENTS,
    NAMESPACED_RESOURCES,
    NAMESPACES,
    PODS,
    ResourceType,
)
from slipway_simcluster.store import Store
from slipway_simcluster.strategies import (
    STATUS_RESOURCES,
    scrub_for_create,
    strategy_for,
    validate_metadata,
)

PROTECTED_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class Registry:
    """Kubernetes write semantics over a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # Create.

    def create(
        self, rt: ResourceType, namespace: str | None, body: Any, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Create an object (201 semantics); raises ApiError on any rule broken."""
        _require_verb(rt, "create")
        obj = scrub_for_create(_as_object(body, rt))
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
        strategy_for(rt).prepare_create(obj, self.store)
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
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
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
            if rt.key in STATUS_RESOURCES:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            strategy_for(rt).prepare_update(new, old, self.store)
        if dry_run:
            return new
        if new == old or _same_ignoring_version(new, old):
            return self.store.peek(rt, namespace, name) or old  # no-op writes keep the version
        return self.store.replace(rt, new)

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
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Apply a PATCH; returns (object, created). Apply-patch creates a missing object."""
        _require_verb(rt, "patch")
        media = content_type.split(";")[0].strip().lower()
        if media == APPLY_PATCH:
            return self._apply(rt, namespace, name, body, subresource, field_manager, dry_run)
        document = _parse_json(body)
        current = self.store.get(rt, namespace, name)
        patched = _apply_patch(media, current, document)
        return self.update(
            rt, namespace, name, patched, subresource=subresource, dry_run=dry_run
        ), False

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: bytes,
        subresource: str | None,
        field_manager: str | None,
        dry_run: bool,
    ) -> tuple[dict[str, Any], bool]:
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
            document = yaml.safe_load(body or b"{}")
        except yaml.YAMLError as error:
            raise bad_request(f"error decoding YAML: {error}") from None
        applied = _as_object(document, rt)
        if applied["metadata"].get("name", name) != name:
            raise bad_request("the name of the object does not match the name on the URL")
        applied["metadata"]["name"] = name
        # Server-side apply, simplified: create-or-merge of the applied configuration.
        if self.store.peek(rt, namespace, name) is None:
            if subresource is not None:
                raise not_found(rt.plural, rt.group, name)
            return self.create(rt, namespace, applied, dry_run=dry_run), True
        current = self.store.get(rt, namespace, name)
        applied["metadata"].pop("resourceVersion", None)
        merged = patches.strategic_merge_patch(current, applied)
        return self.update(
            rt, namespace, name, merged, subresource=subresource, dry_run=dry_run
        ), False

    # Scale subresource.

    def get_scale(self, namespace: str, name: str) -> dict[str, Any]:
        """The autoscaling/v1 Scale of a Deployment."""
        return scale_of(self.store.get(DEPLOYMENTS, namespace, name))

    def update_scale(
        self, namespace: str, name: str, body: Any, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """PUT a Scale: sets the Deployment's spec.replicas."""
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
        deployment = self.store.get(DEPLOYMENTS, namespace, name)
        expected = (scale.get("metadata") or {}).get("resourceVersion")
        if expected and expected != deployment["metadata"]["resourceVersion"]:
            raise conflict("deployments", "apps", name)
        deployment["spec"]["replicas"] = replicas
        return scale_of(self.update(DEPLOYMENTS, namespace, name, deployment, dry_run=dry_run))

    def patch_scale(
        self, namespace: str, name: str, body: bytes, content_type: str, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """PATCH a Scale (merge, strategic or JSON patch)."""
        media = content_type.split(";")[0].strip().lower()
        if media == APPLY_PATCH:
            try:
                document = yaml.safe_load(body or b"{}")
            except yaml.YAMLError as error:
                raise bad_request(f"error decoding YAML: {error}") from None
            media = MERGE_PATCH
        else:
            document = _parse_json(body)
        patched = _apply_patch(media, self.get_scale(namespace, name), document)
        return self.update_scale(namespace, name, patched, dry_run=dry_run)

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
            deleted = copy.deepcopy(deleted)
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
        for rt in NAMESPACED_RESOURCES:
            for dependent in self.store.owned_by(uid, rt):
                updated = copy.deepcopy(dependent)
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
        terminating = copy.deepcopy(namespace)
        terminating["metadata"]["deletionTimestamp"] = now_rfc3339()
        terminating["status"] = {"phase": "Terminating"}
        if dry_run:
            return terminating
        # The simulated namespace controller finishes termination at once: contents first.
        terminating = self.store.replace(NAMESPACES, terminating)
        for rt in NAMESPACED_RESOURCES:
            for obj in list(self.store.objects(rt, name)):
                self.store.delete(rt, name, obj["metadata"]["name"])
        self.store.delete(NAMESPACES, "", name)
        return terminating


def scale_of(deployment: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a Deployment."""
    metadata = deployment["metadata"]
    selector = LabelSelector.from_object((deployment.get("spec") or {}).get("selector"))
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in metadata
        },
        "spec": {"replicas": int((deployment.get("spec") or {}).get("replicas", 0))},
        "status": {
            "replicas": int((deployment.get("status") or {}).get("replicas", 0)),
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
    obj = copy.deepcopy(body)
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}
    return obj


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as error:
        raise bad_request(f"error decoding JSON: {error}") from None


def _apply_patch(media: str, current: dict[str, Any], document: Any) -> Any:
    if media == MERGE_PATCH:
        if not isinstance(document, dict):
            raise bad_request("a merge patch must be a JSON object")
        return patches.merge_patch(current, document)
    if media == STRATEGIC_MERGE_PATCH:
        if not isinstance(document, dict):
            raise bad_request("a strategic merge patch must be a JSON object")
        return patches.strategic_merge_patch(current, document)
    if media == JSON_PATCH:
        return patches.json_patch(current, document)
    raise unsupported_media_type(media)


def _same_ignoring_version(new: dict[str, Any], old: dict[str, Any]) -> bool:
    stripped_new = copy.deepcopy(new)
    stripped_new.get("metadata", {}).pop("resourceVersion", None)
    stripped_old = copy.deepcopy(old)
    stripped_old.get("metadata", {}).pop("resourceVersion", None)
    stripped_new.setdefault("apiVersion", old.get("apiVersion"))
    stripped_new.setdefault("kind", old.get("kind"))
    return stripped_new == stripped_old
