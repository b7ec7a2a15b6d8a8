"""Releases: install a chart onto a cluster, upgrade it, roll it back, uninstall it, and the
queries (the entity, its history, helm's manifest, a preview of a change).

Each command checks the rules against the projections (a valid chart, built images, a
running cluster), loads the Release in a unit of work, calls one domain method and commits
it with the helm operation it queues (the job runs in `release_operations`). A repeated
command id gets the first reply (`idempotent`).
"""

from __future__ import annotations

from typing import Any

from slipway_contracts.commands import (
    InstallRelease,
    ReleaseSpec,
    RollbackRelease,
    UninstallRelease,
    UpgradeRelease,
)
from slipway_contracts.queries import (
    GetEntity,
    ListEntities,
    Preview,
    PreviewRelease,
    ReleaseHistory,
    ReleaseManifest,
)
from slipway_libs import context
from slipway_libs.errors import Conflict
from slipway_libs.messaging import entity_reply, page_reply
from slipway_libs.unit_of_work import check_if_match, idempotent, ok
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.release import UNINSTALLED, ReleaseAggregate
from slipway_workload_manager.domain.release_manifests import redact_manifest
from slipway_workload_manager.service_layer import admission, previews, release_workloads
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import queue_release, release_deadline


def release_spec(command: ReleaseSpec) -> ReleaseSpec:
    """The spec fields of an install or upgrade command."""
    return ReleaseSpec.model_validate(command.model_dump(include=set(ReleaseSpec.model_fields)))


@idempotent
async def install_release(deps: Dependencies, command: InstallRelease) -> dict[str, Any]:
    """Accept a Release (`pending`) and queue helm's install."""
    spec = release_spec(command)
    await admission.releasable(deps, spec)
    await admission.release_name_free(deps, spec)
    async with deps.uow:
        release = ReleaseAggregate.accept(
            spec,
            release_id=context.new_id(),
            operation_id=context.new_id(),
            deadline=release_deadline(deps.settings, spec.timeout_seconds),
        )
        deps.releases.add(release)
        queue_release(deps.uow, release, "install")
        return await deps.uow.commit(answer=release.snapshot())


@idempotent
async def upgrade_release(deps: Dependencies, command: UpgradeRelease) -> dict[str, Any]:
    """New values, images or chart: `updating`, then helm's next revision."""
    spec = release_spec(command)
    async with deps.uow:
        release = await deps.releases.get(command.id)
        check_if_match(release, command.expected_revision)
        state = release.state
        rules.same_identity(
            (state.cluster_id, state.namespace, state.name),
            (spec.cluster_id, spec.namespace, spec.name),
        )
        await admission.releasable(deps, spec)
        deadline = release_deadline(deps.settings, spec.timeout_seconds)
        release.upgrade(spec, operation_id=context.new_id(), deadline=deadline)
        queue_release(deps.uow, release, "upgrade")
        return await deps.uow.commit(answer=release.snapshot())


@idempotent
async def rollback_release(deps: Dependencies, command: RollbackRelease) -> dict[str, Any]:
    """Back to an earlier helm revision, with its chart, values and images (`updating`)."""
    async with deps.uow:
        release = await deps.releases.get(command.id)
        check_if_match(release, command.expected_revision)
        await admission.running_cluster(deps, release.state.cluster_id)
        deadline = release_deadline(deps.settings, release.state.timeout_seconds)
        release.rollback(command.revision, operation_id=context.new_id(), deadline=deadline)
        queue_release(deps.uow, release, "rollback", command.revision)
        return await deps.uow.commit(answer=release.snapshot())


@idempotent
async def uninstall_release(deps: Dependencies, command: UninstallRelease) -> dict[str, Any]:
    """Queue helm's uninstall (the release turns `uninstalled` when it is done, and its
    Deployments and Services go); the DELETE of an uninstalled release removes its record.
    A release whose cluster no longer exists is uninstalled at once: its objects went with
    the cluster."""
    async with deps.uow:
        release = await deps.releases.get(command.id)
        check_if_match(release, command.expected_revision)
        cluster = await deps.projections.cluster(release.state.cluster_id)
        if release.status == UNINSTALLED:
            release.remove()
        elif cluster is None:
            outage = rules.cluster_outage(cluster, release.state.cluster_id)
            release.gone_with_cluster(f"{outage}: its objects went with it")
            await release_workloads.remove_all(deps, release.id)
        else:
            await admission.running_cluster(deps, cluster.id)
            release.uninstall(operation_id=context.new_id())
            queue_release(deps.uow, release, "uninstall")
        return await deps.uow.commit(answer=release.snapshot())


# slipway_libs.messaging annotates the MongoDB Repository; every Repository port answers.
async def get_release(deps: Dependencies, query: GetEntity) -> dict[str, Any]:
    return await entity_reply(deps.releases, query.id)


async def list_releases(deps: Dependencies, query: ListEntities) -> dict[str, Any]:
    return await page_reply(deps.releases, query)


async def release_history(deps: Dependencies, query: ReleaseHistory) -> dict[str, Any]:
    """helm's revisions of the release, oldest first, as the release recorded them."""
    release = await deps.releases.get(query.id)
    return ok([entry.model_dump(mode="json") for entry in release.state.history])


async def release_manifest(deps: Dependencies, query: ReleaseManifest) -> dict[str, Any]:
    """`helm get manifest` of the release's current revision (Secrets' values redacted)."""
    release = await deps.releases.get(query.id)
    state = release.state
    if release.status == UNINSTALLED:
        raise Conflict(
            f"release '{state.name}' is uninstalled: it has no manifest any more",
            {"current_status": release.status},
        )
    cluster = await admission.running_cluster(deps, state.cluster_id)
    manifest = await previews.live_manifest(deps, cluster, state.name, state.namespace)
    return ok({"manifest": redact_manifest(manifest or "")})


async def preview_release(deps: Dependencies, query: PreviewRelease) -> dict[str, Any]:
    """What an install (or, with `id`, an upgrade) would do, changing nothing: the manifest
    helm renders and its diff against the objects live on the cluster."""
    spec = ReleaseSpec.model_validate(query.spec)
    if query.id is not None:
        state = (await deps.releases.get(query.id)).state
        rules.same_identity(
            (state.cluster_id, state.namespace, state.name),
            (spec.cluster_id, spec.namespace, spec.name),
        )
    preview: Preview = await previews.preview(deps, spec)
    return ok(preview.model_dump(mode="json"))
