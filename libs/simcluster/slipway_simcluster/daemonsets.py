"""The simulated DaemonSet controller: one pod on the simulated node (when the pod
template's nodeSelector admits it), replaced one at a time when the template changes
(RollingUpdate) or when the user deletes it (OnDelete)."""

from __future__ import annotations

from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.kubelet import Kubelet
from slipway_simcluster.podtemplates import create_pod, is_terminal
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import DAEMONSETS, NODES, PODS
from slipway_simcluster.statefulsets import REVISION_LABEL, ensure_revision
from slipway_simcluster.store import Store

GENERATION_LABEL = "pod-template-generation"
Object = dict[str, Any]


class DaemonSetController:
    """Reconciles one DaemonSet (called from the controller manager's work queue)."""

    def __init__(self, store: Store, registry: Registry, kubelet: Kubelet, node_name: str) -> None:
        self._store = store
        self._registry = registry
        self._kubelet = kubelet
        self._node_name = node_name

    def reconcile(self, namespace: str, name: str) -> None:
        """One pod per eligible node, of the current template; then the status."""
        ds = self._store.peek(DAEMONSETS, namespace, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        revision = ensure_revision(self._store, ds, template)
        hash_value = revision.rsplit("-", 1)[-1]
        desired = 1 if self._node_admits(template) else 0
        pods = [p for p in self._store.owned_by(ds["metadata"]["uid"], PODS) if not is_terminal(p)]
        for pod in list(pods)[desired:]:
            self._store.delete(PODS, namespace, pod["metadata"]["name"])
            pods.remove(pod)
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        for pod in list(pods):
            if rolling and _hash(pod) != hash_value:
                self._store.delete(PODS, namespace, pod["metadata"]["name"])
                pods.remove(pod)
        if desired and not pods:
            created = create_pod(
                self._registry,
                ds,
                template,
                labels={
                    REVISION_LABEL: hash_value,
                    GENERATION_LABEL: str(ds["metadata"].get("generation", 1)),
                },
                spec_changes={"nodeName": self._node_name},
            )
            if created is not None:
                pods.append(created)
        self._write_status(ds, pods, desired, hash_value)

    def _node_admits(self, template: Object) -> bool:
        node = self._store.peek(NODES, "", self._node_name)
        labels = ((node or {}).get("metadata") or {}).get("labels") or {}
        selector = (template.get("spec") or {}).get("nodeSelector") or {}
        return all(labels.get(key) == value for key, value in selector.items())

    def _write_status(self, ds: Object, pods: list[Object], desired: int, hash_value: str) -> None:
        current = self._store.peek(
            DAEMONSETS, ds["metadata"].get("namespace", ""), ds["metadata"]["name"]
        )
        if current is None:
            return
        ready = sum(1 for pod in pods if self._kubelet.ready_since(pod) is not None)
        status: Object = {
            "currentNumberScheduled": len(pods),
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready,
            "observedGeneration": int(current["metadata"].get("generation", 1)),
            "updatedNumberScheduled": sum(1 for pod in pods if _hash(pod) == hash_value),
        }
        if ready:
            status["numberAvailable"] = ready
        if desired - ready > 0:
            status["numberUnavailable"] = desired - ready
        if current.get("status") != status:
            changed = clone(current)
            changed["status"] = status
            self._store.replace(DAEMONSETS, changed)


def _hash(pod: Object) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))
