"""Admitting a workload: the data model's rules checked against what this service knows of
images, charts and clusters (its projections), before anything is accepted.

A rule that refuses is run once more after the projection caught up with the entities'
owners: a client that saw a cluster `running` (or an image `built`) and at once deploys
must not be refused because the event is still on the way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from slipway_contracts import subjects
from slipway_contracts.commands import DeploymentSpec, ReleaseSpec, ServiceSpec
from slipway_contracts.entities import Deployment, Service
from slipway_libs.errors import Conflict, InvalidInput
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.projections import ProjectedCluster, ProjectedImage
from slipway_workload_manager.domain.release import LIVE
from slipway_workload_manager.domain.values import values_with_images
from slipway_workload_manager.service_layer.dependencies import Dependencies

T = TypeVar("T")
Refusal = InvalidInput | Conflict


async def caught_up(
    deps: Dependencies,
    entity: str,
    rule: Callable[[], Awaitable[T]],
    ids: Callable[[], Awaitable[list[str]]],
) -> T:
    """Run `rule`; when it refuses, catch the projection up with the owners of the `ids`
    it read and, if one answered, run it once more."""
    try:
        return await rule()
    except (InvalidInput, Conflict):
        if not await deps.projections.catch_up(entity, await ids()):
            raise
    return await rule()


async def _just(*ids: str | None) -> list[str]:
    return [i for i in ids if i]


async def _image_rule(deps: Dependencies, spec: DeploymentSpec) -> ProjectedImage:
    by_id = await deps.projections.image(spec.image_id) if spec.image_id else None
    named = [] if spec.image_id else await deps.projections.images_named(spec.image or "")
    image = rules.deployable_image(spec.image_id, spec.image, by_id, named)
    enforce = deps.settings.image_policy == "enforce"
    return rules.passes_image_policy(image, enforce, "image_id" if spec.image_id else "image")


async def _image_ids(deps: Dependencies, spec: DeploymentSpec) -> list[str]:
    if spec.image_id:
        return [spec.image_id]
    return [i.id for i in await deps.projections.images_named(spec.image or "")]


async def _cluster_rule(deps: Dependencies, cluster_id: str) -> ProjectedCluster:
    return rules.running_cluster(cluster_id, await deps.projections.cluster(cluster_id))


async def _chart_rule(deps: Dependencies, chart_id: str | None) -> None:
    if chart_id:
        rules.valid_chart(chart_id, await deps.projections.chart(chart_id))


async def running_cluster(deps: Dependencies, cluster_id: str) -> ProjectedCluster:
    """The workload's cluster: it must exist and be running."""
    return await caught_up(
        deps,
        subjects.MINIKUBE_CLUSTER,
        partial(_cluster_rule, deps, cluster_id),
        partial(_just, cluster_id),
    )


async def _outcome(check: Awaitable[T]) -> T | Refusal:
    """The check's result, or its refusal (to report with the others)."""
    try:
        return await check
    except (InvalidInput, Conflict) as refused:
        return refused


async def deployable(deps: Dependencies, spec: DeploymentSpec) -> ProjectedImage:
    """The built image a Deployment's spec runs, on a running cluster, with a valid chart
    if it names one; every invalid field is reported at once."""
    image = await _outcome(
        caught_up(
            deps,
            subjects.CONTAINER_IMAGE,
            partial(_image_rule, deps, spec),
            partial(_image_ids, deps, spec),
        )
    )
    cluster = await _outcome(running_cluster(deps, spec.cluster_id))
    chart = await _outcome(
        caught_up(
            deps,
            subjects.HELM_CHART,
            partial(_chart_rule, deps, spec.chart_id),
            partial(_just, spec.chart_id),
        )
    )
    _refuse(image, cluster, chart)
    assert isinstance(image, ProjectedImage)
    return image


def _refuse(*outcomes: object) -> None:
    """Raise the refusals among the checks' outcomes: every invalid field at once (422),
    else the first conflict (409)."""
    refusals = [r for r in outcomes if isinstance(r, InvalidInput | Conflict)]
    invalid = [r for r in refusals if isinstance(r, InvalidInput)]
    if invalid:
        details = [d for exc in invalid for d in (exc.details or [])]
        raise InvalidInput("; ".join(exc.message for exc in invalid), details)
    if refusals:
        raise refusals[0]


async def service_backend(deps: Dependencies, spec: ServiceSpec) -> Deployment:
    """The Deployment whose pods a Kubernetes Service selects (same namespace, its container
    port), on a running cluster."""
    deployment = await deps.deployments.find(spec.deployment_id)
    if deployment is not None and deployment.release_id is not None:
        # Its pods carry the chart's labels, not the ones a Slipway Service selects.
        await outside_release(deps, "Deployment", deployment.state)
    backend = rules.service_backend(
        spec.deployment_id,
        deployment.state if deployment else None,
        namespace=spec.namespace,
        target_port=spec.target_port,
    )
    await running_cluster(deps, backend.cluster_id)
    return backend


# --- releases ---------------------------------------------------------------------------


async def _release_images_rule(deps: Dependencies, spec: ReleaseSpec) -> dict[str, ProjectedImage]:
    found = {i: await deps.projections.image(i) for i in set(spec.images.values())}
    built = rules.release_images(spec.images, found)
    enforce = deps.settings.image_policy == "enforce"
    for path, image in built.items():
        rules.passes_image_policy(image, enforce, f"images.{path}")
    return built


async def _release_image_ids(spec: ReleaseSpec) -> list[str]:
    return sorted(set(spec.images.values()))


async def _release_chart_rule(deps: Dependencies, chart_id: str) -> None:
    rules.valid_chart(chart_id, await deps.projections.chart(chart_id))


async def releasable(deps: Dependencies, spec: ReleaseSpec) -> dict[str, ProjectedImage]:
    """The built image at each values path of a release, on a running cluster, with a valid
    chart; every invalid field is reported at once (the images as `images.<values path>`),
    and each image must fit at its path of the values."""
    images = await _outcome(
        caught_up(
            deps,
            subjects.CONTAINER_IMAGE,
            partial(_release_images_rule, deps, spec),
            partial(_release_image_ids, spec),
        )
    )
    cluster = await _outcome(running_cluster(deps, spec.cluster_id))
    chart = await _outcome(
        caught_up(
            deps,
            subjects.HELM_CHART,
            partial(_release_chart_rule, deps, spec.chart_id),
            partial(_just, spec.chart_id),
        )
    )
    _refuse(images, cluster, chart)
    assert isinstance(images, dict)
    values_with_images(spec.values, references(images))
    return images


def references(images: dict[str, ProjectedImage]) -> dict[str, str]:
    """Values path -> the image's `name:tag`."""
    return {path: image.reference for path, image in images.items()}


async def release_name_free(deps: Dependencies, spec: ReleaseSpec) -> None:
    """helm names a release once per namespace of a cluster (an uninstalled one is gone)."""
    taken = await deps.releases.matching(
        cluster_id=spec.cluster_id, namespace=spec.namespace, name=spec.name, status=list(LIVE)
    )
    if taken:
        raise rules.release_name_taken(spec.namespace, spec.name)


async def outside_release(deps: Dependencies, kind: str, state: Deployment | Service) -> None:
    """A Deployment or Service a release renders changes only with its chart: Conflict
    saying so (with the release to upgrade) when `state` is one."""
    if state.release_id is None:
        return
    release = await deps.releases.find(state.release_id)
    name = release.state.name if release is not None else state.release_id
    raise rules.part_of_release(kind, state.name, name, state.release_id)
