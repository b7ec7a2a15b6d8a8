"""The simulated controller manager: a work queue fed by store changes.

Each change enqueues the keys it affects (a pod change its ReplicaSet's Deployment and its
namespace's Services, a deletion its dependents); one worker reconciles key after key, so
the deployment, endpoints, load-balancer and garbage-collection controllers never race.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slipway_simcluster.deployments import DeploymentController
from slipway_simcluster.endpoints import ServiceController
from slipway_simcluster.events import EventRecorder
from slipway_simcluster.kubelet import Kubelet
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import (
    DEPLOYMENTS,
    NAMESPACED_RESOURCES,
    NAMESPACES,
    PODS,
    REPLICASETS,
    SERVICES,
)
from slipway_simcluster.store import DELETED, Store, WatchEvent

log = logging.getLogger(__name__)

# ("deployment", namespace, name) | ("services", namespace, "") | ("gc", namespace, owner uid)
Key = tuple[str, str, str]


class ControllerManager:
    """Runs the simulated controllers from one work queue."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        recorder: EventRecorder,
        kubelet: Kubelet,
        tunnel_enabled: Callable[[], bool],
    ) -> None:
        self._store = store
        self.deployments = DeploymentController(
            store, registry, recorder, kubelet, self._requeue_deployment_after
        )
        self.services = ServiceController(store, tunnel_enabled)
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: set[Key] = set()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the worker and reconcile everything once (state may come from a snapshot)."""
        self._worker = asyncio.get_running_loop().create_task(
            self._work(), name="simulated-controller-manager"
        )
        self._collect_orphans()
        for deployment in self._store.objects(DEPLOYMENTS):
            self.enqueue(
                (
                    "deployment",
                    deployment["metadata"].get("namespace", ""),
                    deployment["metadata"]["name"],
                )
            )
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
        namespace = metadata.get("namespace", "")
        key = event.resource.key
        if event.type == DELETED and self._store.has_dependents(metadata.get("uid", "")):
            self.enqueue(("gc", namespace, metadata.get("uid", "")))
        if key == DEPLOYMENTS.key:
            if event.type == DELETED:
                self.deployments.forget(metadata.get("uid", ""))
            else:
                self.enqueue(("deployment", namespace, metadata["name"]))
        elif key == REPLICASETS.key:
            self._enqueue_owning_deployment(namespace, metadata)
        elif key == PODS.key:
            for ref in metadata.get("ownerReferences") or []:
                if ref.get("kind") == REPLICASETS.kind and ref.get("name"):
                    replica_set = self._store.peek(REPLICASETS, namespace, ref["name"])
                    if replica_set is not None:
                        self._enqueue_owning_deployment(namespace, replica_set["metadata"])
            if self._store.objects(SERVICES, namespace):
                self.enqueue(("services", namespace, ""))
        elif key == SERVICES.key:
            self.enqueue(("services", namespace, ""))

    def _enqueue_owning_deployment(self, namespace: str, metadata: dict[str, Any]) -> None:
        for ref in metadata.get("ownerReferences") or []:
            if ref.get("kind") == DEPLOYMENTS.kind and ref.get("name"):
                self.enqueue(("deployment", namespace, ref["name"]))

    def _requeue_deployment_after(self, namespace: str, name: str, delay: float) -> None:
        key: Key = ("deployment", namespace, name)
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
                self._reconcile(key)
            except Exception:
                log.exception("simulated controller: reconciling %s failed", key)
            # Reconciles are synchronous: yield so API requests are served between them.
            await asyncio.sleep(0)

    def _reconcile(self, key: Key) -> None:
        kind, namespace, name = key
        if kind == "deployment":
            self.deployments.reconcile(namespace, name)
        elif kind == "services":
            self.services.reconcile_namespace(namespace)
        elif kind == "gc":
            self._collect_dependents(name)

    def _collect_dependents(self, owner_uid: str) -> None:
        """Garbage collection: delete what a deleted owner owned (background propagation)."""
        for rt in NAMESPACED_RESOURCES:
            for dependent in list(self._store.owned_by(owner_uid, rt)):
                metadata = dependent["metadata"]
                self._store.delete(rt, metadata.get("namespace", ""), metadata["name"])

    def _collect_orphans(self) -> None:
        """Delete what lost its owner while the cluster was down (dependents follow)."""
        for rt in (REPLICASETS, PODS):
            for obj in list(self._store.objects(rt)):
                refs = obj["metadata"].get("ownerReferences") or []
                owners = [ref for ref in refs if ref.get("controller")]
                if owners and not any(self._owner_exists(obj, ref) for ref in owners):
                    self._store.delete(
                        rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                    )

    def _owner_exists(self, obj: dict[str, Any], ref: dict[str, Any]) -> bool:
        owner_type = {DEPLOYMENTS.kind: DEPLOYMENTS, REPLICASETS.kind: REPLICASETS}.get(
            str(ref.get("kind"))
        )
        if owner_type is None:
            return True
        owner = self._store.peek(
            owner_type, obj["metadata"].get("namespace", ""), str(ref.get("name"))
        )
        return owner is not None and owner["metadata"].get("uid") == ref.get("uid")
