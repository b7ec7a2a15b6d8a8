"""The health monitor: between operations, every cluster that should answer is probed
through its driver; a running cluster that fails turns `error`, a failed one that answers
again turns `running`, and an attached cluster follows whatever its probe says.

The probes run side by side (they wait on drivers); what they found is then written one
cluster at a time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from slipway_cluster_manager.domain.cluster import ClusterAggregate
from slipway_cluster_manager.domain.ports import DriverError, ProbeResult
from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_cluster_manager.service_layer.drivers import api_server_of, driver_with_credentials
from slipway_contracts.entities import ClusterDriverName, ClusterStatus, MinikubeCluster
from slipway_libs.unit_of_work import ConcurrentWrite, TransientConflict

log = logging.getLogger(__name__)

PROBED_STATUSES = (ClusterStatus.RUNNING.value, ClusterStatus.ERROR.value)


@dataclass(frozen=True)
class Observation:
    """What a probe of a cluster at `seen_revision` found, when it changes the cluster."""

    cluster_id: str
    name: str
    seen_revision: int
    healthy: bool
    reason: str | None
    api_server: str | None


async def probe_clusters(deps: Dependencies) -> int:
    """Probe every cluster between operations (running and errored ones, and attached
    ones whatever their status) and record what changed; how many changed status."""
    limit = asyncio.Semaphore(deps.settings.probe_concurrency)
    found = await asyncio.gather(*(_observe(deps, c, limit) for c in await _probed(deps)))
    changed = 0
    for observation in found:
        if observation is not None and await _record(deps, observation):
            changed += 1
    return changed


async def _probed(deps: Dependencies) -> list[ClusterAggregate]:
    """The clusters with no operation in flight that are running, errored or attached."""
    up_or_failed = await deps.clusters.matching(operation=None, status=PROBED_STATUSES)
    attached = await deps.clusters.matching(
        operation=None, driver=ClusterDriverName.KUBECONFIG.value
    )
    return list({c.id: c for c in [*up_or_failed, *attached]}.values())


async def _observe(
    deps: Dependencies, cluster: ClusterAggregate, limit: asyncio.Semaphore
) -> Observation | None:
    """Probe one cluster; None when what it found changes nothing (most probes)."""
    state, seen = cluster.state, cluster.revision
    async with limit:
        result = await _probe(deps, state)
        healthy = result.status == "running"
        reason = result.reason
        if not healthy and not reason:
            parts = ", ".join(f"{k}: {v}" for k, v in result.components.items())
            reason = f"the cluster is {result.status} (not through Slipway)" + (
                f"; {parts}" if parts else ""
            )
        # Decide on the copy read for the probe: it is thrown away, nothing is written yet.
        if not cluster.observe(healthy=healthy, reason=reason, seen_revision=seen):
            return None
        api_server = await api_server_of(deps, state) if healthy else None
    return Observation(state.id, state.name, seen, healthy, reason, api_server)


async def _probe(deps: Dependencies, cluster: MinikubeCluster) -> ProbeResult:
    """The driver's probe, bounded in time; a probe that cannot run says why."""
    deadline = deps.settings.probe_timeout_s * 2
    try:
        async with asyncio.timeout(deadline):
            driver, spec = await driver_with_credentials(deps, cluster)
            return await driver.probe(spec)
    except TimeoutError:
        return ProbeResult("error", f"the health probe got no answer within {deadline:g} s")
    except DriverError as error:
        return ProbeResult("error", f"the health probe could not run: {error.message}")


async def _record(deps: Dependencies, seen: Observation) -> bool:
    """Apply an observation to the cluster as it is now; whether its status changed."""
    try:
        async with deps.uow:
            cluster = await deps.clusters.find(seen.cluster_id)
            if cluster is None or not cluster.observe(
                healthy=seen.healthy,
                reason=seen.reason,
                seen_revision=seen.seen_revision,
                api_server=seen.api_server,
            ):
                return False  # it changed since the probe: the probe says nothing about it
            await deps.uow.commit()
    except (ConcurrentWrite, TransientConflict):
        return False  # another replica (or an operation) got there first
    log.info(
        "health probe: cluster %s is %s",
        seen.name,
        "running again" if seen.healthy else "failing",
        extra={"reason": seen.reason},
    )
    return True
