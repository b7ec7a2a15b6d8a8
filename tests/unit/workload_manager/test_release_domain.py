"""The Release's rules, free of I/O (domain/release.py, values.py, release_manifests.py): its
transitions, the rollback target, the values an image is set into, what a manifest renders,
Secrets redacted, and a preview's diff."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from slipway_contracts.commands import ReleaseSpec
from slipway_contracts.entities import ReleaseRevision
from slipway_libs.errors import Conflict, InvalidInput
from slipway_libs.statemachine import IllegalTransition
from slipway_workload_manager.domain.ports import HelmRevision
from slipway_workload_manager.domain.release import (
    ReleaseAggregate,
    chart_version_of,
    history_of,
)
from slipway_workload_manager.domain.release_manifests import (
    REDACTED,
    ObjectKey,
    objects_of,
    preview_changes,
    redact_manifest,
    rendered_workloads,
)
from slipway_workload_manager.domain.values import values_with_images
from tests.unit.workload_manager.fakes import RELEASE_SPEC, todo_manifest

SOON = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def release(**overrides: Any) -> ReleaseAggregate:
    spec = ReleaseSpec.model_validate({**RELEASE_SPEC, **overrides})
    item = ReleaseAggregate.accept(spec, release_id="r-1", operation_id="op-1", deadline=SOON)
    item.saved()
    return item


def revision(number: int, **fields: Any) -> ReleaseRevision:
    return ReleaseRevision(
        revision=number, status="superseded", updated_at=SOON, chart_id="ch-1", **fields
    )


def deployed(item: ReleaseAggregate) -> ReleaseAggregate:
    item.recorded("op-1", helm_revision=1, history=[revision(1, values={"a": 1})], workloads=[])
    item.deployed("op-1")
    return item


# --- the lifecycle ----------------------------------------------------------------------


def test_an_install_is_pending_until_its_operation_reports_deployed():
    item = release()
    assert (item.status, item.state.operation_id, item.state.deadline) == ("pending", "op-1", SOON)
    item.deployed("stale-op")
    assert item.status == "pending"
    deployed(item)
    assert (item.status, item.state.deadline, item.state.helm_revision) == ("deployed", None, 1)
    assert [c.event for c in item.changes] == ["updated", "deployed"]


def test_an_upgrade_or_rollback_is_refused_while_helm_is_busy_and_allowed_once_it_is_done():
    item = release()
    with pytest.raises(Conflict, match=r"is pending .* wait for its install"):
        item.upgrade(ReleaseSpec.model_validate(RELEASE_SPEC), operation_id="op-2", deadline=SOON)
    deployed(item)
    spec = ReleaseSpec.model_validate({**RELEASE_SPEC, "values": {"x": 2}})
    item.upgrade(spec, operation_id="op-2", deadline=SOON)
    assert (item.status, item.state.values, item.state.operation_id) == (
        "updating",
        {"x": 2},
        "op-2",
    )


def test_a_rollback_takes_the_target_revisions_values_and_images_and_names_a_missing_one():
    item = deployed(release())
    with pytest.raises(InvalidInput) as missing:
        item.rollback(7, operation_id="op-2", deadline=SOON)
    assert missing.value.details == [
        {"field": "revision", "message": "release 'todo' has no revision 7 (its revisions: 1)"}
    ]
    item.rollback(1, operation_id="op-2", deadline=SOON)
    assert (item.status, item.state.values, item.state.images) == ("updating", {"a": 1}, {})


def test_an_uninstall_keeps_the_status_until_helm_is_done_and_only_then_the_record_goes():
    item = deployed(release())
    item.uninstall(operation_id="op-9")
    assert (item.status, item.state.operation_id) == ("deployed", "op-9")
    with pytest.raises(Conflict, match="uninstalled first"):
        item.remove()
    item.uninstalled("op-9")
    assert (item.status, item.state.workloads) == ("uninstalled", [])
    assert not item.is_current("op-9")
    with pytest.raises(IllegalTransition):
        item.upgrade(ReleaseSpec.model_validate(RELEASE_SPEC), operation_id="op-2", deadline=SOON)
    item.remove()
    assert item.deleted


def test_while_helm_uninstalls_workloads_going_away_fail_nothing_and_upgrades_wait():
    item = deployed(release())
    item.uninstall(operation_id="op-9")
    assert item.state.uninstalling
    assert not item.workload_failed("Deployment ns/todo-backend was deleted outside Slipway")
    assert item.status == "deployed"
    with pytest.raises(Conflict, match="being uninstalled"):
        item.upgrade(ReleaseSpec.model_validate(RELEASE_SPEC), operation_id="op-2", deadline=SOON)
    item.uninstalled("op-9")
    assert (item.status, item.state.uninstalling) == ("uninstalled", False)


def test_a_failure_is_recorded_once_and_a_new_reason_replaces_the_old():
    item = release()
    item.failed("op-1", "helm install failed: boom")
    item.failed("op-1", "helm install failed: boom")
    item.failed("op-1", "helm install failed: worse")
    assert [c.event for c in item.changes] == ["failed", "updated"]
    assert item.state.reason == "helm install failed: worse"


def test_the_deadline_fails_an_operation_that_never_ended():
    item = release()
    assert not item.expire(SOON - timedelta(seconds=1))
    assert item.expire(SOON + timedelta(seconds=1))
    assert (item.status, item.state.reason) == (
        "failed",
        f"not deployed by its deadline ({SOON.isoformat()})",
    )


def test_an_outage_fails_it_and_the_clusters_return_upgrades_it_again():
    item = deployed(release())
    assert item.cluster_down("cluster 'local' is stopped")
    assert not item.cluster_down("cluster 'local' is stopped")
    assert item.cluster_down("cluster 'local' is in error: disk full")
    assert item.cluster_back(operation_id="op-3", deadline=SOON)
    assert (item.status, item.state.operation_id, item.state.reason) == ("updating", "op-3", None)


def test_a_release_failed_for_another_reason_or_uninstalled_is_left_alone_by_its_cluster():
    item = release()
    item.failed("op-1", "helm install failed: bad chart")
    assert not item.cluster_back(operation_id="op-3", deadline=SOON)
    gone = deployed(release())
    gone.uninstall(operation_id="op-9")
    gone.uninstalled("op-9")
    assert not gone.cluster_down("cluster 'local' is stopped")


def test_history_keeps_what_was_recorded_and_gives_the_new_revision_the_releases_spec():
    item = deployed(release())
    now = datetime.now(UTC)
    revisions = [
        HelmRevision(1, "superseded", now, "todo-0.1.0", "1.0.0", "Install complete"),
        HelmRevision(2, "deployed", now, "todo-0.2.0-rc.1", "1.1.0", "Upgrade complete"),
    ]
    history = history_of(revisions, item.state, made=2, chart_version=None)
    assert [(h.revision, h.status, h.values, h.chart_version) for h in history] == [
        (1, "superseded", {"a": 1}, None),
        (2, "deployed", {"config": {"greeting": "hi"}}, "0.2.0-rc.1"),
    ]
    assert history[1].images == RELEASE_SPEC["images"]
    assert chart_version_of("my-chart-1.2.3+build.4") == "1.2.3+build.4"


# --- values ---------------------------------------------------------------------------


def test_image_references_are_set_at_their_paths_leaving_the_given_values_untouched():
    values = {"backend": {"replicas": 3}, "other": 1}
    merged = values_with_images(values, {"backend.image": "b:1", "frontend.deep.image": "f:1"})
    assert merged == {
        "backend": {"replicas": 3, "image": "b:1"},
        "frontend": {"deep": {"image": "f:1"}},
        "other": 1,
    }
    assert values == {"backend": {"replicas": 3}, "other": 1}


def test_a_path_through_something_that_is_not_a_mapping_is_refused_naming_the_image():
    with pytest.raises(InvalidInput) as refused:
        values_with_images({"backend": "x"}, {"backend.image": "b:1"})
    assert refused.value.details[0]["field"] == "images.backend.image"
    with pytest.raises(InvalidInput, match=r"images\.backend\.image"):
        values_with_images({}, {"backend": "b:1", "backend.image": "b:1"})


# --- what a manifest renders ------------------------------------------------------------


def test_the_rendered_deployments_and_services_with_named_ports_and_selectors_resolved():
    workloads = rendered_workloads(objects_of(todo_manifest("todo", {})), "demo")
    [frontend, backend] = workloads.deployments
    assert frontend.pod_labels["app.kubernetes.io/component"] == "frontend"
    assert (backend.name, backend.namespace, backend.replicas) == ("todo-backend", "demo", 2)
    assert (backend.image, backend.container_port) == ("todo/backend:0.0.1", 8080)
    service = workloads.services[1]
    assert (service.name, service.port, service.target_port, service.deployment) == (
        "todo-backend",
        80,
        8080,
        "todo-backend",
    )
    assert workloads.untracked == []


def test_services_slipway_cannot_record_are_listed_as_untracked():
    manifest = yaml.safe_dump_all(
        [
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
             "spec": {"type": "ExternalName", "externalName": "example.org"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "headless"},
             "spec": {"clusterIP": "None"}},
        ]
    )  # fmt: skip
    workloads = rendered_workloads(objects_of(manifest), "demo")
    assert workloads.services == []
    assert workloads.untracked == [
        "Service/ext: a ExternalName Service has no pods behind it",
        "Service/headless: it has no port",
    ]


def test_secret_values_never_show_in_a_manifest():
    shown = redact_manifest(todo_manifest("todo", {}))
    assert "s3cret-value" not in shown
    assert "# Source: todo/templates/secret.yaml" in shown
    secret = next(o for o in objects_of(shown) if o["kind"] == "Secret")
    assert secret["data"] == {"PASSWORD": REDACTED}


# --- a preview's diff ---------------------------------------------------------------------


def live_of(manifest: str, namespace: str = "demo") -> dict[ObjectKey, dict[str, Any]]:
    """The objects as a server returns them: with status and fields of its own."""
    live = {}
    for obj in objects_of(manifest):
        obj["metadata"] = {**obj["metadata"], "namespace": namespace, "uid": "u-1"}
        obj["status"] = {"observedGeneration": 1}
        if obj["kind"] == "Secret":
            values = obj.pop("stringData")
            obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
        live[ObjectKey(obj["kind"], namespace, obj["metadata"]["name"])] = obj
    return live


def test_an_unchanged_release_previews_no_change_whatever_the_server_adds():
    manifest = todo_manifest("todo", {})
    changes = preview_changes(objects_of(manifest), live_of(manifest), [], "demo")
    assert changes == []


def test_a_new_image_previews_as_a_changed_deployment_with_its_diff():
    before = todo_manifest("todo", {})
    after = todo_manifest("todo", {"backend": {"image": "todo/backend:1.1.0"}})
    [change] = preview_changes(objects_of(after), live_of(before), objects_of(before), "demo")
    assert (str(change.key), change.change) == ("Deployment/todo-backend", "changed")
    assert "-      - image: todo/backend:0.0.1" in change.diff
    assert "+      - image: todo/backend:1.1.0" in change.diff


def test_objects_created_and_removed_are_previewed_and_secrets_stay_redacted():
    before = todo_manifest("todo", {})
    after = todo_manifest("todo", {"frontend": None})
    live = live_of(before)
    del live[ObjectKey("Secret", "demo", "todo-secret")]
    changes = preview_changes(objects_of(after), live, objects_of(before), "demo")
    assert [f"{c.key}: {c.change}" for c in changes] == [
        "Secret/todo-secret: created",
        "Deployment/todo-frontend: removed",
        "Service/todo-frontend: removed",
    ]
    assert all("s3cret" not in c.diff for c in changes)
