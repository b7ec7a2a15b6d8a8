"""Object store: resourceVersions, watch history and snapshots."""

from __future__ import annotations

import json

import pytest
from slipway_simcluster.errors import ApiError
from slipway_simcluster.meta import FieldSelector, LabelSelector
from slipway_simcluster.resources import NAMESPACES, SECRETS
from slipway_simcluster.store import ADDED, DELETED, Store, Watcher

EVERYTHING, ANY_FIELD = LabelSelector([]), FieldSelector([])


def _secret(name: str, **labels: str) -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "shop", "labels": labels}, "type": "Opaque"}


def _drain(watcher: Watcher) -> list[tuple[str, str]]:
    seen = []
    while not watcher.queue.empty():
        item = watcher.queue.get_nowait()
        if item is None:
            break
        seen.append((item[0], item[1]["metadata"]["name"]))
    return seen


def test_every_write_bumps_one_global_resource_version() -> None:
    store = Store()
    namespace = store.create(NAMESPACES, {"metadata": {"name": "shop"}})
    secret = store.create(SECRETS, _secret("db"))
    updated = store.replace(SECRETS, {**secret, "type": "kubernetes.io/basic-auth"})

    assert [namespace["metadata"]["resourceVersion"], secret["metadata"]["resourceVersion"]] == [
        "1",
        "2",
    ]
    assert updated["metadata"]["resourceVersion"] == "3"
    assert updated["metadata"]["uid"] == secret["metadata"]["uid"]
    assert store.resource_version == 3


def test_duplicate_create_is_already_exists_and_missing_get_is_not_found() -> None:
    store = Store()
    store.create(SECRETS, _secret("db"))

    with pytest.raises(ApiError) as duplicate:
        store.create(SECRETS, _secret("db"))
    with pytest.raises(ApiError) as missing:
        store.get(SECRETS, "shop", "nope")

    assert (duplicate.value.code, duplicate.value.reason) == (409, "AlreadyExists")
    assert (missing.value.code, missing.value.reason) == (404, "NotFound")
    assert missing.value.message == 'secrets "nope" not found'


def test_watch_replays_changes_after_a_resource_version() -> None:
    store = Store()
    first = store.create(SECRETS, _secret("a"))
    store.create(SECRETS, _secret("b"))
    store.delete(SECRETS, "shop", "a")

    watcher = store.watch(
        SECRETS, "shop", EVERYTHING, ANY_FIELD, int(first["metadata"]["resourceVersion"])
    )
    store.create(SECRETS, _secret("c"))

    assert _drain(watcher) == [(ADDED, "b"), (DELETED, "a"), (ADDED, "c")]


def test_watch_without_resource_version_starts_with_current_objects() -> None:
    store = Store()
    store.create(SECRETS, _secret("a"))
    store.create(SECRETS, _secret("b"))

    watcher = store.watch(SECRETS, None, EVERYTHING, ANY_FIELD, None)

    assert _drain(watcher) == [(ADDED, "a"), (ADDED, "b")]


def test_object_leaving_a_label_selector_is_seen_as_deleted() -> None:
    store = Store()
    secret = store.create(SECRETS, _secret("db", tier="back"))
    watcher = store.watch(SECRETS, "shop", LabelSelector.parse("tier=back"), ANY_FIELD, None)

    store.replace(
        SECRETS, {**secret, "metadata": {**secret["metadata"], "labels": {"tier": "front"}}}
    )
    store.replace(
        SECRETS, {**secret, "metadata": {**secret["metadata"], "labels": {"tier": "back"}}}
    )

    assert _drain(watcher) == [(ADDED, "db"), (DELETED, "db"), (ADDED, "db")]


def test_watch_from_beyond_the_bounded_history_is_gone() -> None:
    store = Store(history_size=3)
    for index in range(5):
        store.create(SECRETS, _secret(f"s{index}"))

    with pytest.raises(ApiError) as expired:
        store.watch(SECRETS, "shop", EVERYTHING, ANY_FIELD, 1)
    recent = store.watch(SECRETS, "shop", EVERYTHING, ANY_FIELD, 2)

    assert (expired.value.code, expired.value.reason) == (410, "Expired")
    assert [name for _, name in _drain(recent)] == ["s2", "s3", "s4"]


def test_snapshot_restore_continues_the_counter_and_expires_old_watches() -> None:
    store = Store()
    store.create(SECRETS, _secret("db"))
    store.create(SECRETS, _secret("cache"))

    restored = Store()
    restored.restore(store.snapshot())
    created = restored.create(SECRETS, _secret("queue"))

    assert (
        restored.get(SECRETS, "shop", "db")["metadata"]["uid"]
        == store.get(SECRETS, "shop", "db")["metadata"]["uid"]
    )
    assert created["metadata"]["resourceVersion"] == "3"
    with pytest.raises(ApiError):
        restored.watch(SECRETS, "shop", EVERYTHING, ANY_FIELD, 1)


def test_closed_store_ends_watches() -> None:
    store = Store()
    watcher = store.watch(SECRETS, None, EVERYTHING, ANY_FIELD, None)
    store.close_watchers()
    late = store.watch(SECRETS, None, EVERYTHING, ANY_FIELD, None)

    assert watcher.queue.get_nowait() is None
    assert late.queue.get_nowait() is None


def test_the_saved_snapshot_follows_every_write_and_restores_the_same_objects() -> None:
    store = Store()
    store.create(SECRETS, _secret("db"))
    store.create(SECRETS, _secret("cache"))
    first = json.loads(store.snapshot_json())
    changed = store.get(SECRETS, "shop", "db")
    changed["metadata"]["labels"] = {"tier": "data"}
    store.replace(SECRETS, changed)
    store.delete(SECRETS, "shop", "cache")
    store.create(SECRETS, _secret("queue"))

    saved = json.loads(store.snapshot_json())
    restored = Store()
    restored.restore(saved)

    assert [o["metadata"]["name"] for o in first["objects"][SECRETS.key]] == ["db", "cache"]
    assert saved == json.loads(json.dumps(store.snapshot()))
    assert restored.get(SECRETS, "shop", "db")["metadata"]["labels"] == {"tier": "data"}
    assert restored.peek(SECRETS, "shop", "cache") is None
    assert restored.resource_version == store.resource_version == 5
