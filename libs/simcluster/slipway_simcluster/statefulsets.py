"""The simulated StatefulSet controller.

As the real one: pods `<name>-<ordinal>` with stable names (hostname, subdomain from
`serviceName`) and one PersistentVolumeClaim per volumeClaimTemplate each
(`<template>-<name>-<ordinal>`, kept when the pod goes). `OrderedReady` creates pods one
at a time, each once the previous is Ready, and removes them from the highest ordinal;
`Parallel` does both at once. A RollingUpdate replaces pods whose revision is not the
current template's, from the highest ordinal down to `partition`, one Ready pod at a time;
OnDelete waits for the user to delete them. Each template is a ControllerRevision.
"""

from __future__ import annotations

from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.errors import ApiError
from slipway_simcluster.kubelet import Kubelet
from slipway_simcluster.podtemplates import create_pod, is_terminal, owner_reference
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import (
    CONTROLLER_REVISIONS,
    PERSISTENT_VOLUME_CLAIMS,
    PODS,
    STATEFULSETS,
)
from slipway_simcluster.store import Store
from slipway_simcluster.strategies import pod_template_hash

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
Object = dict[str, Any]


def ensure_revision(store: Store, owner: Object, template: Any) -> str:
    """The ControllerRevision `<owner>-<hash>` of a pod template, created if missing; its name."""
    metadata = owner["metadata"]
    namespace = metadata.get("namespace", "")
    name = f"{metadata['name']}-{pod_template_hash(template or {})}"
    if store.peek(CONTROLLER_REVISIONS, namespace, name) is None:
        owned = store.owned_by(metadata["uid"], CONTROLLER_REVISIONS)
        newest = max((int(rev.get("revision") or 0) for rev in owned), default=0)
        store.create(
            CONTROLLER_REVISIONS,
            {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(((template or {}).get("metadata") or {}).get("labels") or {}),
                    "ownerReferences": [owner_reference(owner)],
                },
                "data": {"spec": {"template": clone(template or {})}},
                "revision": newest + 1,
            },
        )
    return name


class StatefulSetController:
    """Reconciles one StatefulSet (called from the controller manager's work queue)."""

    def __init__(self, store: Store, registry: Registry, kubelet: Kubelet) -> None:
        self._store = store
        self._registry = registry
        self._kubelet = kubelet

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring the StatefulSet's pods, claims and status in line with its spec."""
        sts = self._store.peek(STATEFULSETS, namespace, name)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        update_revision = ensure_revision(self._store, sts, spec.get("template"))
        pods = self._pods(sts)
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        self._scale(sts, pods, replicas, ordered, update_revision)
        pods = self._pods(sts)
        if len(pods) == replicas and all(self._ready(pod) for pod in pods.values()):
            self._roll(sts, pods, update_revision)
        self._write_status(sts, self._pods(sts), update_revision)

    def _pods(self, sts: Object) -> dict[int, Object]:
        pods: dict[int, Object] = {}
        prefix = f"{sts['metadata']['name']}-"
        for pod in self._store.owned_by(sts["metadata"]["uid"], PODS):
            suffix = pod["metadata"]["name"][len(prefix) :]
            if suffix.isdigit():
                pods[int(suffix)] = pod
        return pods

    def _ready(self, pod: Object) -> bool:
        return self._kubelet.ready_since(pod) is not None

    def _scale(
        self, sts: Object, pods: dict[int, Object], replicas: int, ordered: bool, revision: str
    ) -> None:
        namespace = sts["metadata"].get("namespace", "")
        extra = sorted((i for i in pods if i >= replicas), reverse=True)
        for ordinal in extra[:1] if ordered else extra:
            self._store.delete(PODS, namespace, pods[ordinal]["metadata"]["name"])
        if ordered and extra:
            return
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is None:
                self._create(sts, ordinal, revision)
                if ordered:
                    return
            elif ordered and not self._ready(pod):
                return
            elif is_terminal(pod):
                self._store.delete(PODS, namespace, pod["metadata"]["name"])

    def _create(self, sts: Object, ordinal: int, revision: str) -> None:
        spec = sts.get("spec") or {}
        name = f"{sts['metadata']['name']}-{ordinal}"
        template = clone(spec.get("template") or {})
        pod_spec = template.setdefault("spec", {})
        volumes = list(pod_spec.get("volumes") or [])
        names = {volume.get("name") for volume in volumes}
        for claim_template in spec.get("volumeClaimTemplates") or []:
            claim = self._ensure_claim(sts, claim_template, name)
            if claim is not None and claim_template["metadata"]["name"] not in names:
                volumes.append(
                    {
                        "name": claim_template["metadata"]["name"],
                        "persistentVolumeClaim": {"claimName": claim},
                    }
                )
        changes: Object = {"hostname": name}
        if volumes:
            changes["volumes"] = volumes
        if spec.get("serviceName"):
            changes["subdomain"] = spec["serviceName"]
        create_pod(
            self._registry,
            sts,
            template,
            name=name,
            labels={REVISION_LABEL: revision, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal)},
            spec_changes=changes,
        )

    def _ensure_claim(self, sts: Object, claim_template: Any, pod_name: str) -> str | None:
        if not isinstance(claim_template, dict):
            return None
        metadata = claim_template.get("metadata") or {}
        namespace = sts["metadata"].get("namespace", "")
        name = f"{metadata.get('name', '')}-{pod_name}"
        if self._store.peek(PERSISTENT_VOLUME_CLAIMS, namespace, name) is not None:
            return name
        selector = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        claim = {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**(metadata.get("labels") or {}), **selector},
            },
            "spec": clone(claim_template.get("spec") or {}),
        }
        if metadata.get("annotations"):
            claim["metadata"]["annotations"] = dict(metadata["annotations"])
        try:
            self._registry.create(PERSISTENT_VOLUME_CLAIMS, namespace, claim)
        except ApiError:
            return None
        return name

    def _roll(self, sts: Object, pods: dict[int, Object], revision: str) -> None:
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for ordinal in sorted(pods, reverse=True):
            pod = pods[ordinal]
            if ordinal >= partition and _revision(pod) != revision:
                namespace = pod["metadata"].get("namespace", "")
                self._store.delete(PODS, namespace, pod["metadata"]["name"])
                return

    def _write_status(self, sts: Object, pods: dict[int, Object], revision: str) -> None:
        current = self._store.peek(
            STATEFULSETS, sts["metadata"].get("namespace", ""), sts["metadata"]["name"]
        )
        if current is None:
            return
        old_status = current.get("status") or {}
        ready = [pod for pod in pods.values() if self._ready(pod)]
        updated = [pod for pod in pods.values() if _revision(pod) == revision]
        current_revision = old_status.get("currentRevision") or revision
        if len(updated) == len(pods) == int((sts.get("spec") or {}).get("replicas", 1)):
            current_revision = revision
        counts = {
            "readyReplicas": len(ready),
            "currentReplicas": sum(1 for p in pods.values() if _revision(p) == current_revision),
            "updatedReplicas": len(updated),
        }
        status: Object = {
            "observedGeneration": int(current["metadata"].get("generation", 1)),
            "replicas": len(pods),
            **{field: value for field, value in counts.items() if value},
            "availableReplicas": len(ready),
            "currentRevision": current_revision,
            "updateRevision": revision,
            "collisionCount": 0,
        }
        if old_status != status:
            changed = clone(current)
            changed["status"] = status
            self._store.replace(STATEFULSETS, changed)


def _revision(pod: Object) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))
