"""Release use cases (service_layer/releases.py) on in-memory records: the rules, the events
and helm operations each command commits, idempotent replays, the queries and the preview,
and the refusal to change a release's workloads behind its chart."""

from __future__ import annotations

from typing import Any

import pytest

from slipway_contracts import subjects
from slipway_contracts.commands import (
    CreateService,
    DeleteDeployment,
    DeleteService,
    RepairDeployment,
    RollbackRelease,
    ScaleDeployment,
    UninstallRelease,
    UpdateDeployment,
    UpgradeRelease,
)
from slipway_contracts.queries import (
    GetEntity,
    ListEntities,
    PreviewRelease,
    ReleaseHistory,
    ReleaseManifest,
)
from slipway_libs import context
from slipway_libs.errors import Conflict, InvalidInput, PreconditionFailed, Unavailable
from slipway_workload_manager.service_layer import deployments, kube_services, releases
from tests.unit.workload_manager.fakes import (
    BACKEND,
    BACKEND_2,
    CHART,
    CLUSTER,
    FRONTEND,
    RELEASE_SPEC,
    announce,
    chart_event,
    cluster_event,
    deployed_release,
    event,
    image_event,
    install,
    new_world,
    release_of,
    release_ready,
    workloads_of,
)

CREATED = subjects.event(subjects.RELEASE, "created")
UPDATING = subjects.event(subjects.RELEASE, "updating")
OPERATE = subjects.job(subjects.RELEASE, "operate")


def upgrade(release_id: str, **changes: Any) -> UpgradeRelease:
    return UpgradeRelease.model_validate({**RELEASE_SPEC, **changes, "id": release_id})


def release_jobs(world) -> list[dict[str, Any]]:
    return [job.payload for job in world.uow.jobs if job.subject == OPERATE]


# --- install ---------------------------------------------------------------------------


async def test_an_install_is_pending_with_helms_install_queued_in_the_same_commit(world):
    await release_ready(world)
    created = await install(world)
    assert (created["status"], created["name"], created["revision"]) == ("pending", "todo", 1)
    assert created["images"] == {"frontend.image": FRONTEND.id, "backend.image": BACKEND.id}
    assert world.uow.event_types()[-1] == CREATED
    assert release_jobs(world) == [
        {
            "release_id": created["id"],
            "operation_id": created["operation_id"],
            "action": "install",
            "revision": None,
        }
    ]
    assert release_of(world, created["id"]).deadline is not None


async def test_a_repeated_command_id_gets_the_first_reply_and_makes_one_release(world):
    await release_ready(world)
    context.bind("corr", "install-1")
    try:
        first = await install(world)
        again = await install(world)
    finally:
        context.bind(None, None)
    assert again == first
    assert len(world.releases.rows) == 1 and len(release_jobs(world)) == 1


async def test_a_chart_that_is_not_valid_is_a_conflict_naming_its_status(world):
    await release_ready(world)
    await announce(world, chart_event("invalid", 5))
    with pytest.raises(Conflict) as refused:
        await install(world)
    assert "HelmChart 'web' is invalid (current status: invalid)" in refused.value.message
    assert refused.value.details == {"field": "chart_id", "current_status": "invalid"}
    assert world.releases.rows == {}


async def test_images_that_are_not_built_are_invalid_naming_their_values_paths(world):
    await release_ready(world)
    await announce(world, image_event("building", 6, BACKEND))
    with pytest.raises(InvalidInput) as refused:
        await install(world, images={"backend.image": BACKEND.id, "frontend.image": "nosuch"})
    assert refused.value.details == [
        {
            "field": "images.backend.image",
            "message": "ContainerImage 'todo/backend:1.0.0' is building; a release takes built "
            "images only",
        },
        {"field": "images.frontend.image", "message": "no ContainerImage has the id 'nosuch'"},
    ]


async def test_a_stopped_cluster_is_a_conflict_and_an_image_path_into_a_value_is_invalid(world):
    await release_ready(world)
    with pytest.raises(InvalidInput, match=r"images\.backend\.image"):
        await install(world, values={"backend": "flat"})
    await announce(world, cluster_event("stopped", 7))
    with pytest.raises(Conflict, match="cluster 'local' is stopped"):
        await install(world)


async def test_a_release_name_is_taken_once_per_namespace_while_it_is_installed(world):
    created = await deployed_release(world)
    with pytest.raises(Conflict, match="a release named 'todo' is already installed"):
        await install(world)
    other = await install(world, namespace="elsewhere")
    assert other["status"] == "pending"
    await releases.uninstall_release(world.deps, UninstallRelease(id=created["id"]))
    await world.run_jobs()
    assert (await install(world))["status"] == "pending"


# --- upgrade and rollback ---------------------------------------------------------------


async def test_an_upgrade_is_updating_with_the_new_spec_and_helms_upgrade_queued(world):
    created = await deployed_release(world)
    images = {"frontend.image": FRONTEND.id, "backend.image": BACKEND_2.id}
    reply = await releases.upgrade_release(world.deps, upgrade(created["id"], images=images))
    updated = reply["data"]
    assert (updated["status"], updated["images"]) == ("updating", images)
    assert world.uow.event_types()[-1] == UPDATING
    assert release_jobs(world)[-1]["action"] == "upgrade"


async def test_an_upgrade_keeps_the_identity_honours_if_match_and_waits_for_the_install(world):
    await release_ready(world)
    created = await install(world)
    with pytest.raises(Conflict, match="wait for its install"):
        await releases.upgrade_release(world.deps, upgrade(created["id"]))
    await world.run_jobs()
    with pytest.raises(InvalidInput) as renamed:
        await releases.upgrade_release(world.deps, upgrade(created["id"], name="other"))
    assert renamed.value.details[0]["field"] == "name"
    stale = upgrade(created["id"], expected_revision=1)
    with pytest.raises(PreconditionFailed):
        await releases.upgrade_release(world.deps, stale)


async def test_a_rollback_needs_a_revision_of_the_history_and_queues_helms_rollback(world):
    created = await deployed_release(world)
    with pytest.raises(InvalidInput) as missing:
        await releases.rollback_release(world.deps, RollbackRelease(id=created["id"], revision=4))
    assert missing.value.details[0]["field"] == "revision"
    reply = await releases.rollback_release(
        world.deps, RollbackRelease(id=created["id"], revision=1)
    )
    assert reply["data"]["status"] == "updating"
    assert release_jobs(world)[-1] | {"operation_id": None} == {
        "release_id": created["id"],
        "operation_id": None,
        "action": "rollback",
        "revision": 1,
    }


# --- uninstall ---------------------------------------------------------------------------


async def test_an_uninstall_ends_in_uninstalled_and_a_second_delete_removes_the_record(world):
    created = await deployed_release(world)
    reply = await releases.uninstall_release(world.deps, UninstallRelease(id=created["id"]))
    assert reply["data"]["status"] == "deployed"  # until helm has done it
    await world.run_jobs()
    assert release_of(world, created["id"]).status == "uninstalled"
    assert workloads_of(world, created["id"]) == {}
    assert not any(key[1] == "demo" for key in world.cluster.objects)
    await releases.uninstall_release(world.deps, UninstallRelease(id=created["id"]))
    assert created["id"] not in world.releases.rows
    assert world.uow.event_types()[-1] == subjects.event(subjects.RELEASE, "deleted")


async def test_a_stopped_cluster_refuses_the_uninstall_and_a_deleted_one_ends_it_at_once(world):
    created = await deployed_release(world)
    await announce(world, cluster_event("stopped", 8))
    with pytest.raises(Conflict, match="is stopped"):
        await releases.uninstall_release(world.deps, UninstallRelease(id=created["id"]))
    await announce(world, cluster_event("deleted", 9))
    reply = await releases.uninstall_release(world.deps, UninstallRelease(id=created["id"]))
    assert (reply["data"]["status"], reply["data"]["reason"]) == (
        "uninstalled",
        f"cluster '{CLUSTER.id}' no longer exists: its objects went with it",
    )
    assert workloads_of(world, created["id"]) == {}


# --- queries -------------------------------------------------------------------------------


async def test_the_queries_answer_the_release_its_history_and_helms_manifest(world):
    created = await deployed_release(world)
    got = await releases.get_release(world.deps, GetEntity(id=created["id"]))
    assert got["data"]["status"] == "deployed"
    listed = await releases.list_releases(world.deps, ListEntities(status="deployed"))
    assert [r["id"] for r in listed["data"]["items"]] == [created["id"]]
    history = await releases.release_history(world.deps, ReleaseHistory(id=created["id"]))
    assert [(h["revision"], h["status"]) for h in history["data"]] == [(1, "deployed")]
    manifest = await releases.release_manifest(world.deps, ReleaseManifest(id=created["id"]))
    text = manifest["data"]["manifest"]
    assert "kind: Deployment" in text and "todo/backend:1.0.0" in text
    assert "s3cret-value" not in text


async def test_a_preview_of_an_upgrade_shows_the_diff_and_changes_nothing(world):
    created = await deployed_release(world)
    commits, calls, objects = world.uow.commits, len(world.helm.calls), dict(world.cluster.objects)
    spec = {**RELEASE_SPEC, "images": {**RELEASE_SPEC["images"], "backend.image": BACKEND_2.id}}
    reply = await releases.preview_release(world.deps, PreviewRelease(id=created["id"], spec=spec))
    preview = reply["data"]
    assert preview["changes"] == ["Deployment/todo-backend: changed"]
    assert "+      - image: todo/backend:1.1.0" in preview["diff"]
    assert "s3cret-value" not in preview["manifest"] + preview["diff"]
    assert world.uow.commits == commits and world.cluster.objects == objects
    assert [c[0] for c in world.helm.calls[calls:]] == ["template"]


async def test_a_preview_of_an_install_creates_everything_and_is_refused_like_the_install(world):
    await release_ready(world)
    reply = await releases.preview_release(world.deps, PreviewRelease(spec=RELEASE_SPEC))
    assert "Deployment/todo-frontend: created" in reply["data"]["changes"]
    assert world.releases.rows == {}
    await announce(world, chart_event("invalid", 9))
    with pytest.raises(Conflict, match="invalid"):
        await releases.preview_release(world.deps, PreviewRelease(spec=RELEASE_SPEC))


async def test_values_the_chart_cannot_render_are_invalid_in_a_preview(world):
    await release_ready(world)
    world.helm.failure = "template: todo/templates/x.yaml:3: nil pointer"
    with pytest.raises(InvalidInput) as refused:
        await releases.preview_release(world.deps, PreviewRelease(spec=RELEASE_SPEC))
    assert refused.value.details[0]["field"] == "values"


# --- a release's workloads change only with its chart ----------------------------------------


async def test_a_release_workload_cannot_be_changed_outside_its_chart(world):
    created = await deployed_release(world)
    workloads = workloads_of(world, created["id"])
    backend = workloads["Deployment/todo-backend"]
    service = workloads["Service/todo-backend"]
    put = {"id": backend.id, "name": backend.name, "namespace": "demo", "cluster_id": CLUSTER.id}
    put |= {"image": BACKEND.reference, "container_port": 8080}
    refusals = [
        deployments.scale_deployment(world.deps, ScaleDeployment(id=backend.id, replicas=5)),
        deployments.repair_deployment(world.deps, RepairDeployment(id=backend.id)),
        deployments.delete_deployment(world.deps, DeleteDeployment(id=backend.id)),
        deployments.update_deployment(world.deps, UpdateDeployment.model_validate(put)),
        kube_services.delete_service(world.deps, DeleteService(id=service.id)),
    ]
    for refusal in refusals:
        with pytest.raises(Conflict) as refused:
            await refusal
        assert refused.value.message.endswith(
            f"is part of release 'todo': its chart owns it; upgrade the release instead "
            f"(PUT /api/releases/{created['id']})"
        )
    with pytest.raises(Conflict, match="part of release 'todo'"):
        await kube_services.create_service(
            world.deps,
            CreateService(name="extra", namespace="demo", deployment_id=backend.id, port=80,
                          target_port=8080),
        )  # fmt: skip
    assert workloads_of(world, created["id"])["Deployment/todo-backend"].replicas == 2


async def test_the_projections_know_the_chart_used(world):
    await release_ready(world)
    assert (await world.projections.chart(CHART.id)).status == "valid"


async def test_a_cluster_that_cannot_be_asked_makes_the_queries_unavailable(world):
    created = await deployed_release(world)
    world.helm.unavailable = True
    with pytest.raises(Unavailable, match="cannot be asked now"):
        await releases.release_manifest(world.deps, ReleaseManifest(id=created["id"]))
    world.helm.unavailable = False
    world.cluster.unreachable = True
    with pytest.raises(Unavailable, match="cannot be asked now"):
        await releases.preview_release(world.deps, PreviewRelease(spec=RELEASE_SPEC))


async def test_under_enforce_a_release_of_an_image_with_critical_findings_is_a_409():
    world = new_world(image_policy="enforce")
    await release_ready(world)
    root_scan = {"findings": [{"kind": "policy", "severity": "HIGH", "rule": "non-root-user"}]}
    fields = {"name": BACKEND.name, "tag": BACKEND.tag, "status": "built", "scan": root_scan}
    await announce(world, event("container_image", "scanned", BACKEND.id, 4, **fields))
    with pytest.raises(Conflict) as refused:
        await install(world)
    assert "policy non-root-user" in refused.value.message
    assert refused.value.details["field"] == "images.backend.image"
