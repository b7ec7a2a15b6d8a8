"""A simulated cluster started in-process, for tests that watch its controllers work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from slipway_simcluster.cluster import ClusterConfig, SimulatedCluster

ClusterFactory = Callable[..., Awaitable[SimulatedCluster]]


@pytest.fixture
async def make_cluster(tmp_path: Path) -> AsyncIterator[ClusterFactory]:
    """Start clusters (the test images loaded); every one still running is stopped after."""
    started: list[SimulatedCluster] = []

    async def make(ready_delay: float = 0.05, state_dir: Path | None = None) -> SimulatedCluster:
        config = ClusterConfig(
            name="unit",
            state_dir=state_dir or tmp_path / "state",
            token="t",
            ready_delay=ready_delay,
        )
        cluster = SimulatedCluster(config)
        await cluster.start()
        cluster.images.add([("shop/web:1.0.0", "sha256:1"), ("shop/web:2.0.0", "sha256:2")])
        started.append(cluster)
        return cluster

    yield make
    for cluster in started:
        if cluster.ready:
            await cluster.stop()
