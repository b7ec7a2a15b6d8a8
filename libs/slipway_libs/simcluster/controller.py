"""The simulated controller manager: a work queue fed by store changes.

Each change enqueues the keys it affects (a pod change its owning Deployment and its
namespace's Services); one worker reconciles key after key, so the deployment, endpoints,
load-balancer and garbage-collection controllers never race each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from slipway_libs.simcluster.deployments import DeploymentController
from slipway_libs.simcluster.endpoints import ServiceController
from slipway_libs.simcluster.events import EventRecorder
from slipway_libs.simcluster.kubelet import Kubelet
from slipway_libs.simcluster.registry import Registry
from slipway_libs.simcluster.resources import (
    DEPLOYMENTS,
    NAMESPACED_RESOURCES,
    NAMESPACES,
    PODS,
    SERVICES,
)
from slipway_libs.simcluster.store import DELETED, Store, WatchEvent

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
        for deployment in self._store.list(DEPLOYMENTS):
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
        for namespace in self._store.list(NAMESPACES):
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
        if key == DEPLOYMENTS.key:
            if event.type == DELETED:
                self.deployments.forget(metadata.get("uid", ""))
                self.enqueue(("gc", namespace, metadata.get("uid", "")))
            else:
                self.enqueue(("deployment", namespace, metadata["name"]))
        elif key == PODS.key:
            for ref in metadata.get("ownerReferences") or []:
                if ref.get("kind") == DEPLOYMENTS.kind and ref.get("name"):
                    self.enqueue(("deployment", namespace, ref["name"]))
            if self._store.list(SERVICES, namespace):
                self.enqueue(("services", namespace, ""))
        elif key == SERVICES.key:
            self.enqueue(("services", namespace, ""))

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
        deployment_uids = {d["metadata"]["uid"] for d in self._store.list(DEPLOYMENTS)}
        for pod in list(self._store.list(PODS)):
            for ref in pod["metadata"].get("ownerReferences") or []:
                if ref.get("kind") == DEPLOYMENTS.kind and ref.get("uid") not in deployment_uids:
                    self._store.delete(
                        PODS, pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
                    )
                    break
