"""The simulated cluster's object store: objects, the resourceVersion counter, watch history.

Everything runs on one asyncio event loop and every write is synchronous, so a write, its
resourceVersion and its watch event are atomic without locks (as etcd's are).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from slipway_simcluster import resources
from slipway_simcluster.clone import clone
from slipway_simcluster.errors import already_exists, gone, not_found
from slipway_simcluster.meta import FieldSelector, LabelSelector, now_rfc3339, owner_uids
from slipway_simcluster.resources import Catalog, ResourceType

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
ObjectKey = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects


@dataclass
class WatchEvent:
    """One change of one object, as kept in the watch history."""

    resource_version: int
    resource: ResourceType
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


@dataclass(eq=False)  # identity semantics: watchers live in a set
class Watcher:
    """One open watch: a filter and a queue of (type, object) pairs; None ends the stream."""

    resource: ResourceType
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    max_queue: int = 50_000
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def matches(self, obj: dict[str, Any]) -> bool:
        """True if the object is in this watch's namespace and selectors."""
        metadata = obj.get("metadata") or {}
        if self.namespace is not None and metadata.get("namespace", "") != self.namespace:
            return False
        return self.labels.matches(metadata.get("labels")) and self.fields.matches(obj)

    def offer(self, event: WatchEvent) -> None:
        """Queue the event if it concerns this watch, translated as a real API server does.

        An object that moves into or out of the selector is seen as ADDED or DELETED.
        """
        if self.closed or event.resource.key != self.resource.key:
            return
        now_matches = self.matches(event.obj)
        event_type = event.type
        if event.type == MODIFIED:
            was_matching = event.old is not None and self.matches(event.old)
            if now_matches and not was_matching:
                event_type = ADDED
            elif was_matching and not now_matches:
                event_type = DELETED
            elif not now_matches:
                return
        elif not now_matches:
            return
        if self.queue.qsize() >= self.max_queue:
            # A consumer this far behind is dropped, as the API server does; it re-lists.
            self.close()
            return
        self.queue.put_nowait((event_type, event.obj))

    def close(self) -> None:
        """End the stream."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


Listener = Callable[[WatchEvent], None]


class Store:
    """In-memory objects keyed by resource, namespace and name, with a bounded watch history."""

    def __init__(self, history_size: int = 10_000, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog()
        self._objects: dict[str, dict[ObjectKey, dict[str, Any]]] = {
            rt.key: {} for rt in resources.ALL_RESOURCES
        }
        self._resource_version = 0
        self._history: deque[WatchEvent] = deque()
        self._history_size = history_size
        # Oldest resourceVersion a watch may still start from.
        self._history_floor = 0
        self._watchers: set[Watcher] = set()
        self._listeners: list[Listener] = []
        self._owned: dict[str, set[tuple[str, ObjectKey]]] = {}
        self._closing = False
        # id(stored object) -> (the object, its JSON): stored objects are never changed in
        # place (a write stores a new one), so a snapshot encodes only what changed since.
        self._encoded: dict[int, tuple[dict[str, Any], bytes]] = {}

    @property
    def resource_version(self) -> int:
        """The current (highest) resourceVersion."""
        return self._resource_version

    def add_listener(self, listener: Listener) -> None:
        """Call `listener` synchronously after every write (controllers, persistence)."""
        self._listeners.append(listener)

    # Reads. `peek` and `list` return the stored objects: callers must not mutate them.

    def peek(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object (read-only) or None."""
        return self._bucket(rt).get((namespace if rt.namespaced else "", name))

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """A private copy of the object; 404 NotFound if absent."""
        obj = self.peek(rt, namespace, name)
        if obj is None:
            raise not_found(rt.plural, rt.group, name)
        return clone(obj)

    def objects(self, rt: ResourceType, namespace: str | None = None) -> list[dict[str, Any]]:
        """Stored objects (read-only), ordered by namespace then name as etcd lists them."""
        objects = self._bucket(rt)
        keys = sorted(k for k in objects if namespace is None or k[0] == namespace)
        return [objects[k] for k in keys]

    def unordered(self, rt: ResourceType) -> Iterable[dict[str, Any]]:
        """Every stored object of the type (read-only), in no order: for scans that need
        none, without `objects`' sort."""
        return self._bucket(rt).values()

    def owned_by(self, uid: str, rt: ResourceType) -> list[dict[str, Any]]:
        """Stored objects of type `rt` whose ownerReferences name `uid` (read-only)."""
        found = []
        for key, object_key in self._owned.get(uid, ()):
            if key == rt.key and (obj := self._objects.get(key, {}).get(object_key)) is not None:
                found.append(obj)
        return sorted(found, key=lambda o: o["metadata"]["name"])

    def has_dependents(self, uid: str) -> bool:
        """True if some object names `uid` in its ownerReferences."""
        return bool(self._owned.get(uid))

    def count(self, rt: ResourceType) -> int:
        """How many objects of this type exist."""
        return len(self._bucket(rt))

    # Writes. Each bumps the resourceVersion and records one watch event.

    def create(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object, assigning uid, creationTimestamp and resourceVersion."""
        obj = clone(obj)
        metadata = obj.setdefault("metadata", {})
        key = self._key(rt, metadata)
        if key in self._bucket(rt):
            raise already_exists(rt.plural, rt.group, metadata.get("name", ""))
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault("creationTimestamp", now_rfc3339())
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return self._write(rt, key, obj, None, ADDED)

    def replace(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Overwrite an existing object (preconditions are the caller's job)."""
        obj = clone(obj)
        metadata = obj.setdefault("metadata", {})
        key = self._key(rt, metadata)
        old = self._bucket(rt).get(key)
        if old is None:
            raise not_found(rt.plural, rt.group, metadata.get("name", ""))
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return self._write(rt, key, obj, old, MODIFIED)

    def delete(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """Remove an object; returns it as last seen (with the deletion's resourceVersion)."""
        key = (namespace if rt.namespaced else "", name)
        old = self._bucket(rt).get(key)
        if old is None:
            raise not_found(rt.plural, rt.group, name)
        gone_obj = clone(old)
        return self._write(rt, key, gone_obj, old, DELETED)

    def _bucket(self, rt: ResourceType) -> dict[ObjectKey, dict[str, Any]]:
        return self._objects.setdefault(rt.key, {})

    def drop_all(self, rt: ResourceType) -> None:
        """Delete every object of a type (its CustomResourceDefinition is gone)."""
        for obj in list(self.objects(rt)):
            metadata = obj["metadata"]
            self.delete(rt, metadata.get("namespace", ""), metadata["name"])

    def _key(self, rt: ResourceType, metadata: dict[str, Any]) -> ObjectKey:
        namespace = metadata.get("namespace", "") if rt.namespaced else ""
        if not rt.namespaced:
            metadata.pop("namespace", None)
        return (namespace, metadata.get("name", ""))

    def _write(
        self,
        rt: ResourceType,
        key: ObjectKey,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        event_type: str,
    ) -> dict[str, Any]:
        self._resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        if old is not None:
            self._unindex(rt, key, old)
        if event_type == DELETED:
            del self._bucket(rt)[key]
        else:
            self._bucket(rt)[key] = obj
            self._index(rt, key, obj)
        event = WatchEvent(self._resource_version, rt, event_type, obj, old)
        self._remember(event)
        for watcher in list(self._watchers):
            watcher.offer(event)
        for listener in self._listeners:
            listener(event)
        return obj

    def _index(self, rt: ResourceType, key: ObjectKey, obj: dict[str, Any]) -> None:
        for uid in owner_uids(obj):
            self._owned.setdefault(uid, set()).add((rt.key, key))

    def _unindex(self, rt: ResourceType, key: ObjectKey, obj: dict[str, Any]) -> None:
        for uid in owner_uids(obj):
            owned = self._owned.get(uid)
            if owned is not None:
                owned.discard((rt.key, key))
                if not owned:
                    del self._owned[uid]

    def _remember(self, event: WatchEvent) -> None:
        self._history.append(event)
        while len(self._history) > self._history_size:
            evicted = self._history.popleft()
            self._history_floor = evicted.resource_version

    # Watches.

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        since: int | None,
    ) -> Watcher:
        """Open a watch.

        `since=None` starts with a synthetic ADDED event per existing object (a watch without
        resourceVersion or with "0"); otherwise every change after `since` is replayed from
        the history first. 410 Gone when the history no longer reaches back to `since`.
        """
        watcher = Watcher(rt, namespace, labels, fields)
        if since is None:
            for obj in self.objects(rt, namespace):
                if watcher.matches(obj):
                    watcher.queue.put_nowait((ADDED, obj))
        else:
            if since < self._history_floor:
                raise gone(f"too old resource version: {since} ({self._history_floor})")
            # Every write appends one event and bumps the version by one, so the history
            # is contiguous: skip straight to the first event after `since`.
            first = self._history[0].resource_version if self._history else since + 1
            for event in itertools.islice(self._history, max(0, since + 1 - first), None):
                watcher.offer(event)
        if self._closing:
            watcher.close()  # shutting down: replay what is known, then end the stream
        else:
            self._watchers.add(watcher)
        return watcher

    def stop_watch(self, watcher: Watcher) -> None:
        """Forget a watch whose client went away."""
        self._watchers.discard(watcher)
        watcher.close()

    def close_watchers(self) -> None:
        """End every open watch stream, and any opened later (on shutdown)."""
        self._closing = True
        for watcher in list(self._watchers):
            watcher.close()
        self._watchers.clear()

    # Persistence.

    def snapshot(self) -> dict[str, Any]:
        """Every object and the resourceVersion counter, JSON-serialisable."""
        return {
            "resourceVersion": self._resource_version,
            "objects": {key: list(objects.values()) for key, objects in self._objects.items()},
        }

    def snapshot_json(self) -> bytes:
        """`snapshot()` encoded as compact JSON, re-encoding only the objects written since
        the last call (a snapshot of thousands of objects is otherwise seconds of CPU per
        minute of changes)."""
        encoded: dict[int, tuple[dict[str, Any], bytes]] = {}
        kinds = []
        for key, objects in self._objects.items():
            items = []
            for obj in objects.values():
                known = self._encoded.get(id(obj))
                if known is None or known[0] is not obj:
                    known = (obj, json.dumps(obj, separators=(",", ":")).encode())
                encoded[id(obj)] = known
                items.append(known[1])
            kinds.append(b"%s:[%s]" % (json.dumps(key).encode(), b",".join(items)))
        self._encoded = encoded
        return b'{"resourceVersion":%d,"objects":{%s}}' % (
            self._resource_version,
            b",".join(kinds),
        )

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Load a snapshot; the resourceVersion counter continues where it stopped.

        The watch history is not persisted, so a watch from before the restart gets 410 Gone.
        """
        self._resource_version = int(snapshot.get("resourceVersion", 0))
        self._history.clear()
        self._history_floor = self._resource_version
        self._owned.clear()
        for key, objects in (snapshot.get("objects") or {}).items():
            # Custom resources are kept before their definition registers their type again.
            bucket = self._objects.setdefault(key, {})
            for obj in _as_objects(objects):
                object_key = (obj["metadata"].get("namespace", ""), obj["metadata"].get("name", ""))
                bucket[object_key] = obj
                for uid in owner_uids(obj):
                    self._owned.setdefault(uid, set()).add((key, object_key))


def _as_objects(objects: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for obj in objects:
        if isinstance(obj, dict) and isinstance(obj.get("metadata"), dict):
            yield obj
