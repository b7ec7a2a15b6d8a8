"""Reading what helm and the cluster hold for a release, for the queries: helm's manifest of
the current revision, and the preview of an install or upgrade (`helm template` with the
values it would get, diffed against the live objects). Nothing here changes anything.

A query answers with an error the caller understands: the cluster or helm unreachable is
`Unavailable` (503), values the chart cannot render are `InvalidInput` naming `values`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from slipway_contracts.commands import ReleaseSpec
from slipway_contracts.queries import Preview
from slipway_libs.errors import InvalidInput, SlipwayError, Unavailable
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)
from slipway_workload_manager.domain.ports import (
    ClusterAccess,
    ClusterRejected,
    ClusterUnreachable,
    HelmFailed,
    HelmUnavailable,
    Manifest,
)
from slipway_workload_manager.domain.projections import ProjectedCluster
from slipway_workload_manager.domain.release_manifests import (
    Json,
    ObjectKey,
    key_of,
    objects_of,
    preview_changes,
    redact_manifest,
)
from slipway_workload_manager.domain.values import values_with_images
from slipway_workload_manager.service_layer import admission
from slipway_workload_manager.service_layer.dependencies import Dependencies


@contextmanager
def answering(cluster: ProjectedCluster) -> Iterator[None]:
    """Turn what the cluster, the cluster-manager and helm raise into a query's errors."""
    try:
        yield
    except (ClusterUnreachable, ClusterManagerUnavailable, HelmUnavailable) as exc:
        raise Unavailable(f"cluster '{cluster.name}' cannot be asked now: {exc}") from exc
    except (ClusterRejected, ClusterManagerRefused, HelmFailed) as exc:
        raise SlipwayError(f"cluster '{cluster.name}' refused: {exc}") from exc


async def live_manifest(
    deps: Dependencies, cluster: ProjectedCluster, release: str, namespace: str
) -> str | None:
    """`helm get manifest` of a release on a running cluster (None: helm knows none)."""
    with answering(cluster):
        access = await deps.connections.access(cluster)
        return await deps.helm.manifest(access, release, namespace)


async def preview(deps: Dependencies, spec: ReleaseSpec) -> Preview:
    """The manifest an install or upgrade with `spec` renders, and how each object would
    change (`Kind/name: created|changed|removed`, and a unified diff), checked by the same
    rules as the command."""
    images = await admission.releasable(deps, spec)
    cluster = await admission.running_cluster(deps, spec.cluster_id)
    values = values_with_images(spec.values, admission.references(images))
    chart = await deps.charts.archive(spec.chart_id)
    try:
        rendered_text = await deps.helm.template(spec.name, spec.namespace, chart.data, values)
    except HelmFailed as exc:
        raise InvalidInput.field("values", f"the chart cannot be rendered: {exc.message}") from exc
    except HelmUnavailable as exc:
        raise Unavailable(f"helm template: {exc}") from exc
    previous_text = await live_manifest(deps, cluster, spec.name, spec.namespace)
    rendered, previous = objects_of(rendered_text), objects_of(previous_text or "")
    with answering(cluster):
        access = await deps.connections.access(cluster)
        live = await _live_objects(deps, access, [*rendered, *previous], spec.namespace)
    changes = preview_changes(rendered, live, previous, spec.namespace)
    return Preview(
        manifest=redact_manifest(rendered_text),
        diff="".join(change.diff for change in changes),
        changes=[f"{change.key}: {change.change}" for change in changes],
    )


async def _live_objects(
    deps: Dependencies, access: ClusterAccess, objects: list[Json], namespace: str
) -> dict[ObjectKey, Manifest | None]:
    """The live object of each of `objects` (None where there is none), read at once."""
    keyed = {key_of(obj, namespace): str(obj.get("apiVersion")) for obj in objects}
    found = await asyncio.gather(
        *(
            deps.cluster.read_object(access, api_version, key.kind, key.namespace, key.name)
            for key, api_version in keyed.items()
        )
    )
    return dict(zip(keyed, found, strict=True))
