"""The deadline sweep: no operation stays in flight past its deadline."""

from __future__ import annotations

from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_libs.unit_of_work import expire_overdue


async def expire_overdue_operations(deps: Dependencies) -> int:
    """End every operation still in flight past its deadline in `error` (the reason says
    how long it was allowed); how many it ended."""
    return await expire_overdue(deps.uow, deps.clusters)
