"""The simulated controller manager: a work queue fed by store changes.

Each change enqueues the keys it affects (a pod change its owner and its namespace's
Services and PodDisruptionBudgets, a deletion its dependents); one worker reconciles key
after key, so the workload, endpoints, volume, disruption, CRD and garbage-collection
controllers never race.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slipway_simcluster.crds import CustomResourceDefinitionController
from slipway_simcluster.daemonsets import DaemonSetController
from slipway_simcluster.deployments import DeploymentController
from slipway_simcluster.disruption import DisruptionController
from slipway_simcluster.endpoints import ServiceController
from slipway_simcluster.events import EventRecorder
from slipway_simcluster.jobs import CronJobController, JobController
from slipway_simcluster.kubelet import Kubelet
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import (
    CRONJOBS,
    CUSTOM_RESOURCE_DEFINITIONS,
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    NAMESPACES,
    PERSISTENT_VOLUME_CLAIMS,
    POD_DISRUPTION_BUDGETS,
    PODS,
    REPLICASETS,
    SERVICE_ACCOUNTS,
    SERVICES,
    STATEFULSETS,
)
from slipway_simcluster.schema import Types
from slipway_simcluster.statefulsets import StatefulSetController
from slipway_simcluster.store import ADDED, DELETED, Store, WatchEvent
from slipway_simcluster.volumes import VolumeController

log = logging.getLogger(__name__)

# (controller, namespace, name): ("deployment", ns, name) | ("services", ns, "") |
# ("gc", ns, owner uid) | ("crd", "", name) | …
Key = tuple[str, str, str]
# Kinds whose objects a workload controller reconciles, by key name.
_WORKLOADS = {
    DEPLOYMENTS.key: "deployment",
    STATEFULSETS.key: "statefulset",
    DAEMONSETS.key: "daemonset",
    JOBS.key: "job",
    CRONJOBS.key: "cronjob",
}
# Pod owners' kinds, and the key of the controller that counts those pods.
_POD_OWNERS = {"StatefulSet": "statefulset", "DaemonSet": "daemonset", "Job": "job"}


class ControllerManager:
    """Runs the simulated controllers from one work queue."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        recorder: EventRecorder,
        kubelet: Kubelet,
        tunnel_enabled: Callable[[], bool],
        *,
        node_name: str = "",
        types: Types | None = None,
    ) -> None:
        self._store = store
        self.deployments = DeploymentController(
            store, registry, recorder, kubelet, self._requeue_deployment_after
        )
        self.statefulsets = StatefulSetController(store, registry, kubelet)
        self.daemonsets = DaemonSetController(store, registry, kubelet, node_name)
        self.jobs = JobController(store, registry, recorder, kubelet, self._requeuer("job"))
        self.cronjobs = CronJobController(store, registry, recorder, self._requeuer("cronjob"))
        self.services = ServiceController(store, tunnel_enabled)
        self.volumes = VolumeController(store, recorder)
        self.disruption = DisruptionController(store, kubelet)
        self.definitions = CustomResourceDefinitionController(store, types or registry.types)
        self._reconcilers: dict[str, Callable[[str, str], None]] = {
            "deployment": self.deployments.reconcile,
            "statefulset": self.statefulsets.reconcile,
            "daemonset": self.daemonsets.reconcile,
            "job": self.jobs.reconcile,
            "cronjob": lambda namespace, name: self.cronjobs.reconcile(namespace, name),
            "services": lambda namespace, _: self.services.reconcile_namespace(namespace),
            "claims": lambda namespace, _: self.volumes.reconcile_namespace(namespace),
            "disruption": lambda namespace, _: self.disruption.reconcile_namespace(namespace),
            "crd": lambda _, name: self.definitions.reconcile(name),
            "namespace": lambda _, name: self._ensure_default_service_account(name),
            "gc": lambda _, uid: self._collect_dependents(uid),
        }
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker and reconcile everything once (state may come from a snapshot)."""
        self.definitions.register_all()
        self._worker = asyncio.get_running_loop().create_task(
            self._work(), name="simulated-controller-manager"
        )
        self._collect_orphans()
        for key, controller in _WORKLOADS.items():
            rt = self._store.catalog.by_key(key)
            for obj in self._store.objects(rt) if rt is not None else []:
                self.enqueue(
                    (controller, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                )
        for namespace in self._store.objects(NAMESPACES):
            name = namespace["metadata"]["name"]
            self.enqueue(("claims", name, ""))
            self.enqueue(("disruption", name, ""))
            self.enqueue(("namespace", "", name))
        self.resync_services()

    async def stop(self) -> None:
        """Stop the worker and pending timers."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    def resync_services(self) -> None:
        """Reconcile Services of every namespace (e.g. after the tunnel was switched)."""
        for namespace in self._store.objects(NAMESPACES):
            self.enqueue(("services", namespace["metadata"]["name"], ""))

    def enqueue(self, key: Key) -> None:
        """Queue a key unless it is already waiting."""
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def on_event(self, event: WatchEvent) -> None:
        """Store listener: map a change to the keys it affects."""
        metadata = event.obj.get("metadata") or {}
        namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
        key = event.resource.key
        if event.type == DELETED and self._store.has_dependents(metadata.get("uid", "")):
            self.enqueue(("gc", namespace, metadata.get("uid", "")))
        if key == DEPLOYMENTS.key and event.type == DELETED:
            self.deployments.forget(metadata.get("uid", ""))
        elif key in _WORKLOADS and event.type != DELETED:
            self.enqueue((_WORKLOADS[key], namespace, name))
        if key == REPLICASETS.key or key == JOBS.key:
            self._enqueue_owners(namespace, metadata)
        elif key == PODS.key:
            self._on_pod(namespace, metadata)
        elif key == SERVICES.key:
            self.enqueue(("services", namespace, ""))
        elif key in (PERSISTENT_VOLUME_CLAIMS.key,):
            self.enqueue(("claims", namespace, ""))
        elif key == POD_DISRUPTION_BUDGETS.key and event.type != DELETED:
            self.enqueue(("disruption", namespace, ""))
        elif key == CUSTOM_RESOURCE_DEFINITIONS.key:
            self.enqueue(("crd", "", name))
        elif key == NAMESPACES.key and event.type == ADDED:
            self.enqueue(("namespace", "", name))

    def _on_pod(self, namespace: str, metadata: dict[str, Any]) -> None:
        self._enqueue_owners(namespace, metadata)
        if self._store.objects(SERVICES, namespace):
            self.enqueue(("services", namespace, ""))
        if self._store.objects(POD_DISRUPTION_BUDGETS, namespace):
            self.enqueue(("disruption", namespace, ""))

    def _enqueue_owners(self, namespace: str, metadata: dict[str, Any]) -> None:
        """Queue the controllers of an object's owners (a ReplicaSet's owner is counted
        by its Deployment, a Job's by its CronJob)."""
        for ref in metadata.get("ownerReferences") or []:
            kind, owner = ref.get("kind"), ref.get("name")
            if not owner:
                continue
            if kind == REPLICASETS.kind:
                replica_set = self._store.peek(REPLICASETS, namespace, owner)
                if replica_set is not None:
                    self._enqueue_owners(namespace, replica_set["metadata"])
            elif kind == DEPLOYMENTS.kind:
                self.enqueue(("deployment", namespace, owner))
            elif kind == CRONJOBS.kind:
                self.enqueue(("cronjob", namespace, owner))
            elif kind in _POD_OWNERS:
                self.enqueue((_POD_OWNERS[kind], namespace, owner))

    def _requeue_deployment_after(self, namespace: str, name: str, delay: float) -> None:
        self.requeue_after(("deployment", namespace, name), delay)

    def _requeuer(self, controller: str) -> Callable[[str, str, float], None]:
        def requeue(namespace: str, name: str, delay: float) -> None:
            self.requeue_after((controller, namespace, name), delay)

        return requeue

    def requeue_after(self, key: Key, delay: float) -> None:
        """Reconcile a key again after `delay` seconds (replacing an earlier timer)."""
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._fire_timer, key)

    def _fire_timer(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.enqueue(key)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            try:
                self._reconcilers[key[0]](key[1], key[2])
            except Exception:
                log.exception("simulated controller: reconciling %s failed", key)
            # Reconciles are synchronous: yield so API requests are served between them.
            await asyncio.sleep(0)

    def _ensure_default_service_account(self, namespace: str) -> None:
        """The service-account controller: every namespace has a `default` ServiceAccount."""
        found = self._store.peek(NAMESPACES, "", namespace)
        if found is None or found["metadata"].get("deletionTimestamp"):
            return
        if self._store.peek(SERVICE_ACCOUNTS, namespace, "default") is None:
            self._store.create(
                SERVICE_ACCOUNTS, {"metadata": {"name": "default", "namespace": namespace}}
            )

    def _collect_dependents(self, owner_uid: str) -> None:
        """Garbage collection: delete what a deleted owner owned (background propagation)."""
        for rt in self._store.catalog.namespaced():
            for dependent in list(self._store.owned_by(owner_uid, rt)):
                metadata = dependent["metadata"]
                self._store.delete(rt, metadata.get("namespace", ""), metadata["name"])

    def _collect_orphans(self) -> None:
        """Delete what lost its owner while the cluster was down (dependents follow)."""
        for rt in self._store.catalog.namespaced():
            for obj in list(self._store.objects(rt)):
                refs = obj["metadata"].get("ownerReferences") or []
                owners = [ref for ref in refs if ref.get("controller")]
                if owners and not any(self._owner_exists(obj, ref) for ref in owners):
                    self._store.delete(
                        rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                    )

    def _owner_exists(self, obj: dict[str, Any], ref: dict[str, Any]) -> bool:
        owner_type = self._store.catalog.by_kind(str(ref.get("apiVersion")), str(ref.get("kind")))
        if owner_type is None:
            return True
        namespace = obj["metadata"].get("namespace", "") if owner_type.namespaced else ""
        owner = self._store.peek(owner_type, namespace, str(ref.get("name")))
        return owner is not None and owner["metadata"].get("uid") == ref.get("uid")
