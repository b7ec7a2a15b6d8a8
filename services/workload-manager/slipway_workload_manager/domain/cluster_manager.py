"""The port to the cluster-manager: a cluster's kubeconfig, and images handed to a cluster.

`adapters.cluster_manager.NatsClusterManager` implements it over request-reply; tests use
fakes of the same protocol.
"""

from __future__ import annotations

from typing import Any, Protocol


class ClusterManagerUnavailable(Exception):
    """The cluster-manager did not answer (not running, NATS down, timed out): retry later."""


class ClusterManagerRefused(Exception):
    """The cluster-manager answered with an error; `code` and `details` as it sent them."""

    def __init__(self, message: str, code: str = "internal", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details

    @property
    def driver_code(self) -> str | None:
        """The cluster driver's own cause (e.g. `UNSUPPORTED`), when it gave one."""
        if isinstance(self.details, dict) and self.details.get("driver_code"):
            return str(self.details["driver_code"])
        return None


class ClusterManager(Protocol):
    async def kubeconfig(self, cluster_id: str) -> str:
        """A self-contained kubeconfig for the running cluster."""
        ...

    async def load_image(self, cluster_id: str, image: str) -> None:
        """Hand a local image (`name:tag`) to the cluster, like `minikube image load`."""
        ...
