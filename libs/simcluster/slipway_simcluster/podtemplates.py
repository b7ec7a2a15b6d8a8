"""Pods made from a workload's pod template, shared by the StatefulSet, DaemonSet and Job
controllers."""

from __future__ import annotations

import logging
from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.errors import ApiError
from slipway_simcluster.meta import random_suffix
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import PODS

log = logging.getLogger(__name__)
Object = dict[str, Any]


def owner_reference(owner: Object) -> Object:
    """The controller ownerReference naming `owner`."""
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_terminal(pod: Object) -> bool:
    """True once a pod has Succeeded or Failed."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def create_pod(
    registry: Registry,
    owner: Object,
    template: Any,
    *,
    name: str | None = None,
    labels: dict[str, str] | None = None,
    spec_changes: dict[str, Any] | None = None,
) -> Object | None:
    """Create a pod of `owner` from a pod template; `name` or `<owner>-<random>`.

    A pod the API refuses (an invalid template) is logged, as a real controller records it.
    """
    template = clone(template or {})
    template_metadata = template.get("metadata") or {}
    namespace = owner["metadata"].get("namespace", "")
    metadata: Object = {
        "namespace": namespace,
        "labels": {**(template_metadata.get("labels") or {}), **(labels or {})},
        "ownerReferences": [owner_reference(owner)],
    }
    if template_metadata.get("annotations"):
        metadata["annotations"] = dict(template_metadata["annotations"])
    spec = {**(template.get("spec") or {}), **(spec_changes or {})}
    pod: Object = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    for _ in range(1 if name else 5):
        metadata["name"] = name or f"{owner['metadata']['name']}-{random_suffix()}"
        try:
            return registry.create(PODS, namespace, pod)
        except ApiError as error:
            if error.reason != "AlreadyExists" or name:
                log.warning(
                    "simulated %s controller: cannot create pod for %s/%s: %s",
                    str(owner.get("kind", "")).lower(),
                    namespace,
                    owner["metadata"]["name"],
                    error.message,
                )
                return None
    return None
