"""Fixtures of the workload-manager's integration tests; a test module loads them with
`pytest_plugins = ["tests.integration.workload_manager.fixtures"]`."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import pytest
from slipway_simcluster import SimulatedClusterProcess

from tests.integration.workload_manager.workloads import FakeWorld, SimCluster, build_parts, drop
from tests.stack import Stack
from tests.unit.workload_manager.fakes import FakeCluster, FakeClusterManager


@pytest.fixture
async def world(stack: Stack) -> AsyncIterator[FakeWorld]:
    """The use cases on a fresh database, against a fake cluster and cluster-manager."""
    cluster, manager = FakeCluster(), FakeClusterManager()
    parts = await build_parts(stack.mongodb_uri, cluster, manager)
    yield FakeWorld(parts, cluster, manager)
    await drop(parts)


@pytest.fixture(scope="module")
def sim_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCluster]:
    """A simulated cluster process on a free loopback port (pods ready after 0.2 s)."""
    state = tmp_path_factory.mktemp("wm-simcluster")
    process = SimulatedClusterProcess(
        "local",
        state / "state",
        secrets.token_urlsafe(24),
        state / "kubeconfig",
        ready_delay=0.2,
    )
    asyncio.run(process.start())
    try:
        yield SimCluster(process, state / "kubeconfig")
    finally:
        asyncio.run(process.stop())
