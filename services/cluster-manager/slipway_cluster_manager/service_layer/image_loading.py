"""Loading a local image into a running cluster (the workload-manager asks before a rollout
uses it)."""

from __future__ import annotations

from typing import Any

from slipway_cluster_manager.domain.ports import DriverError
from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_cluster_manager.service_layer.drivers import driver_of, refusal
from slipway_contracts.commands import LoadImage
from slipway_libs.unit_of_work import ok


async def load_image(deps: Dependencies, command: LoadImage) -> dict[str, Any]:
    """Make a local image available to a running cluster. Loading twice does no harm, so
    a repeated command simply loads again (nothing is written, no reply is kept)."""
    cluster = await deps.clusters.get(command.id)
    cluster.require_running(f"load the image {command.image} into it")
    driver, spec = driver_of(deps, cluster.state)
    try:
        await driver.load_image(spec, command.image)
    except DriverError as error:
        raise refusal(error) from None
    return ok({"id": cluster.id, "name": cluster.name, "image": command.image})
