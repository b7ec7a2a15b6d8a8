"""The helm job of a release (`slipway.jobs.release.operate`): install or upgrade, roll back,
or uninstall, with the real helm CLI against the cluster's kubeconfig.

`operate_release` is the job's work and `fail_release` its terminal end
(`slipway_libs.jobs.run_job` calls them). An install or upgrade fetches the chart's `.tgz`
from the chart-validator, sets each image's reference into the values, hands the images to
the cluster (as a Deployment's rollout does), runs `helm upgrade --install` (no `--wait`:
Slipway follows the workloads itself), records helm's revision, history and rendered
workloads, then follows the workloads until they are available: `deployed`, or `failed`
with the cluster's reason. A job whose operation is no longer current changes nothing.
Each step is published as a progress line of the release.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import TypeVar

from slipway_contracts.entities import Release
from slipway_contracts.jobs import ReleaseJob
from slipway_libs.errors import (
    InvalidInput,
    PermanentError,
    RetryableError,
    SlipwayError,
    Unavailable,
)
from slipway_libs.unit_of_work import retrying
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.ports import ClusterAccess, HelmFailed, HelmUnavailable
from slipway_workload_manager.domain.projections import ProjectedImage
from slipway_workload_manager.domain.values import values_with_images
from slipway_workload_manager.service_layer import release_workloads
from slipway_workload_manager.service_layer.cluster_calls import (
    access_to,
    cluster_to_work_on,
    hand_image,
)
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.release_workloads import HelmOutcome

T = TypeVar("T")
UNINSTALL_FAILED = "uninstall failed"


async def operate_release(deps: Dependencies, job: ReleaseJob) -> None:
    """Run the job's helm operation on the release's cluster, then follow the workloads."""
    release = await deps.releases.find(job.release_id)
    if release is None or not release.is_current(job.operation_id):
        return
    state = release.state
    cluster = await cluster_to_work_on(deps, state.cluster_id)
    access = await access_to(deps, cluster)
    if job.action == "uninstall":
        await _uninstall(deps, job, state, access)
        return
    images = await _images(deps, job, state)
    for image in {image.reference: image for image in images.values()}.values():
        await _say(deps, job, f"handing image {image.reference} to cluster '{cluster.name}'")
        await _say(deps, job, await hand_image(deps, cluster, image.reference, image.digest))
    outcome = await _run_helm(deps, job, state, access, images)
    if not await retrying(partial(release_workloads.record, deps, job, outcome)):
        return
    await _say(deps, job, f"revision {outcome.revision}: waiting for its workloads")
    followed = await release_workloads.follow(deps, cluster, access, job.release_id, state.deadline)
    await retrying(partial(release_workloads.conclude, deps, job, followed))
    await _say(deps, job, f"revision {outcome.revision}: {await _status(deps, job)}")


async def fail_release(deps: Dependencies, job: ReleaseJob, reason: str) -> None:
    """The operation cannot succeed: the release is `failed` with the reason (an uninstall
    says it was one: a release is never installed again by its cluster's return when its
    user wanted it gone)."""
    if job.action == "uninstall":
        reason = f"{UNINSTALL_FAILED}: {reason}"
    await _say(deps, job, f"failed: {reason}")
    await retrying(partial(release_workloads.stopped, deps, job, reason))


# --- the steps -------------------------------------------------------------------------


async def _images(deps: Dependencies, job: ReleaseJob, state: Release) -> dict[str, ProjectedImage]:
    """The built image at each values path. An install or upgrade needs every one of them;
    a rollback (whose values helm keeps) hands over those it still finds."""
    found = {i: await deps.projections.image(i) for i in set(state.images.values())}
    if job.action == "rollback":
        return {
            path: image
            for path, image_id in state.images.items()
            if (image := found.get(image_id)) is not None and image.status == rules.BUILT
        }
    try:
        return rules.release_images(state.images, found)
    except InvalidInput as exc:
        raise PermanentError(exc.message) from exc


async def _run_helm(
    deps: Dependencies,
    job: ReleaseJob,
    state: Release,
    access: ClusterAccess,
    images: dict[str, ProjectedImage],
) -> HelmOutcome:
    """helm's install, upgrade or rollback, then its history and manifest."""
    timeout = float(state.timeout_seconds)
    chart_version = None
    if job.action == "rollback":
        revision = job.revision or 0
        await _say(deps, job, f"helm rollback {state.name} {revision}")
        await _helm(job, deps.helm.rollback(access, state.name, state.namespace, revision, timeout))
    else:
        chart = await _asked("the chart's files", deps.charts.archive(state.chart_id))
        chart_version = chart.version
        values = values_with_images(state.values, {p: i.reference for p, i in images.items()})
        await _say(deps, job, f"helm upgrade --install {state.name} {chart.name}-{chart.version}")
        await _helm(
            job,
            deps.helm.upgrade_install(
                access, state.name, state.namespace, chart.data, values, timeout
            ),
        )
    revisions = await _helm(job, deps.helm.history(access, state.name, state.namespace))
    manifest = await _helm(job, deps.helm.manifest(access, state.name, state.namespace))
    return HelmOutcome(revisions, manifest or "", chart_version)


async def _uninstall(
    deps: Dependencies, job: ReleaseJob, state: Release, access: ClusterAccess
) -> None:
    await _say(deps, job, f"helm uninstall {state.name}")
    timeout = deps.settings.helm_timeout_s
    gone = await _helm(job, deps.helm.uninstall(access, state.name, state.namespace, timeout))
    await _say(deps, job, "uninstalled" if gone else "helm knew no such release any more")
    await retrying(partial(release_workloads.uninstalled, deps, job))


async def _helm(job: ReleaseJob, call: Awaitable[T]) -> T:
    """Await one helm call, classifying its failure for the job."""
    try:
        return await call
    except HelmUnavailable as exc:
        raise RetryableError(f"helm {job.action}: {exc}") from exc
    except HelmFailed as exc:
        raise PermanentError(f"helm {job.action} failed: {exc.message}") from exc


async def _asked(what: str, call: Awaitable[T]) -> T:
    """Await an answer of another service: retry when it cannot answer now, fail for
    good when it refuses."""
    try:
        return await call
    except Unavailable as exc:
        raise RetryableError(f"{what}: {exc.message}") from exc
    except SlipwayError as exc:
        raise PermanentError(f"{what}: {exc.message}") from exc


async def _say(deps: Dependencies, job: ReleaseJob, line: str) -> None:
    """One progress line of the release (best effort)."""
    await deps.release_progress.publish(job.release_id, [line], operation_id=job.operation_id)


async def _status(deps: Dependencies, job: ReleaseJob) -> str:
    release = await deps.releases.find(job.release_id)
    if release is None:
        return "gone"
    reason = f" ({release.state.reason})" if release.state.reason else ""
    return f"{release.status}{reason}"
