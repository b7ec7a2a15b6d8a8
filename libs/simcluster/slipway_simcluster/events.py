"""Recording core/v1 Events for the simulated controllers, with real clusters' de-duplication."""

from __future__ import annotations

import time
from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.meta import now_rfc3339
from slipway_simcluster.resources import EVENTS
from slipway_simcluster.store import Store

NORMAL, WARNING = "Normal", "Warning"


class EventRecorder:
    """Writes Events about objects; a repeated event bumps `count` instead of adding one."""

    def __init__(self, store: Store, host: str, max_events_per_namespace: int = 1000) -> None:
        self._store = store
        self._host = host
        self._max = max_events_per_namespace
        # (namespace, involved uid, reason, message) -> event name
        self._recent: dict[tuple[str, str, str, str], str] = {}
        # Events added per namespace since it was last counted: the namespace is counted
        # (a full listing) only once this could pass the limit by a tenth, then pruned to it.
        self._added: dict[str, int] = {}

    def reindex(self) -> None:
        """Remember stored events, so repeats after a restart still bump `count`."""
        for event in self._store.objects(EVENTS):
            involved = event.get("involvedObject") or {}
            key = (
                event["metadata"].get("namespace", ""),
                str(involved.get("uid", "")),
                str(event.get("reason", "")),
                str(event.get("message", "")),
            )
            self._recent[key] = event["metadata"]["name"]

    def record(
        self,
        involved: dict[str, Any],
        event_type: str,
        reason: str,
        message: str,
        component: str,
        field_path: str | None = None,
    ) -> None:
        """Record an event about `involved` (a stored object)."""
        metadata = involved.get("metadata") or {}
        namespace = metadata.get("namespace") or "default"
        key = (namespace, str(metadata.get("uid", "")), reason, message)
        existing_name = self._recent.get(key)
        existing = self._store.peek(EVENTS, namespace, existing_name) if existing_name else None
        if existing is not None:
            updated = clone(existing)
            updated["count"] = int(updated.get("count", 1)) + 1
            updated["lastTimestamp"] = now_rfc3339()
            self._store.replace(EVENTS, updated)
            return
        name = f"{metadata.get('name', 'unknown')}.{time.time_ns():x}"
        reference: dict[str, Any] = {
            "kind": involved.get("kind", ""),
            "namespace": namespace,
            "name": metadata.get("name", ""),
            "uid": metadata.get("uid", ""),
            "apiVersion": involved.get("apiVersion", ""),
            "resourceVersion": metadata.get("resourceVersion", ""),
        }
        if field_path:
            reference["fieldPath"] = field_path
        now = now_rfc3339()
        event = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": reference,
            "reason": reason,
            "message": message,
            "source": {"component": component, "host": self._host},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event_type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": f"{component}-{self._host}" if component == "kubelet" else "",
        }
        self._store.create(EVENTS, event)
        if len(self._recent) > 10 * self._max:
            self.reindex_from_scratch()
        self._recent[key] = name
        self._prune(namespace)

    def reindex_from_scratch(self) -> None:
        """Forget keys of pruned events (bounds memory)."""
        self._recent.clear()
        self.reindex()

    def _prune(self, namespace: str) -> None:
        added = self._added.get(namespace, 0) + 1
        if added <= max(1, self._max // 10):
            self._added[namespace] = added
            return
        self._added[namespace] = 0
        events = self._store.objects(EVENTS, namespace)
        if len(events) <= self._max:
            return
        oldest = sorted(events, key=lambda e: e.get("lastTimestamp") or "")[
            : len(events) - self._max
        ]
        for event in oldest:
            self._store.delete(EVENTS, namespace, event["metadata"]["name"])
