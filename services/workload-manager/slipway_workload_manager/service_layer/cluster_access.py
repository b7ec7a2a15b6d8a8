"""Reaching clusters: kubeconfigs from the cluster-manager (kept per cluster and API
server) and images handed to a cluster once per digest, however many rollouts need them."""

from __future__ import annotations

import asyncio

from slipway_workload_manager.domain.cluster_manager import ClusterManager
from slipway_workload_manager.domain.ports import ClusterAccess, LoadedImages
from slipway_workload_manager.domain.projections import ProjectedCluster


class ClusterConnections:
    """The kubeconfig of each running cluster, and the images handed to it."""

    def __init__(self, manager: ClusterManager, loaded: LoadedImages) -> None:
        self.manager = manager
        self.loaded = loaded
        self._access: dict[str, tuple[str | None, ClusterAccess]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def access(self, cluster: ProjectedCluster) -> ClusterAccess:
        """How to reach a running cluster; asked once per cluster and API server address."""
        kept = self._access.get(cluster.id)
        if kept is not None and kept[0] == cluster.api_server:
            return kept[1]
        async with self._lock(f"access|{cluster.id}"):
            kept = self._access.get(cluster.id)
            if kept is not None and kept[0] == cluster.api_server:
                return kept[1]
            access = ClusterAccess(cluster.id, await self.manager.kubeconfig(cluster.id))
            self._access[cluster.id] = (cluster.api_server, access)
            return access

    def forget(self, cluster_id: str) -> None:
        """Ask for the kubeconfig again next time (the cluster restarted or failed a call)."""
        self._access.pop(cluster_id, None)

    async def hand_image(
        self, cluster: ProjectedCluster, reference: str, digest: str | None, *, again: bool = False
    ) -> bool:
        """Load an image into the cluster unless it has this digest already; True if loaded.

        Concurrent rollouts of one image share a single load.
        """
        async with self._lock(f"image|{cluster.id}|{reference}"):
            if again:
                await self.loaded.forget(cluster.id, reference)
            elif await self.loaded.has(cluster.id, reference, digest):
                return False
            await self.manager.load_image(cluster.id, reference)
            await self.loaded.remember(cluster.id, reference, digest)
            return True
