"""What the workload-manager's use cases (commands, rollouts, reconciliation) work with."""

from __future__ import annotations

from dataclasses import dataclass

from slipway_workload_manager.adapters.bookkeeping import Leftovers
from slipway_workload_manager.adapters.projections import Projections
from slipway_workload_manager.clusters import ClusterConnections
from slipway_workload_manager.domain.ports import WorkloadCluster
from slipway_workload_manager.scheduling import Deployments, Services
from slipway_workload_manager.settings import WorkloadManagerSettings


@dataclass(frozen=True)
class WorkloadParts:
    """The records, the projections and the way to the clusters, built once at start."""

    settings: WorkloadManagerSettings
    deployments: Deployments
    services: Services
    projections: Projections
    leftovers: Leftovers
    cluster: WorkloadCluster
    connections: ClusterConnections


class UseCases:
    """A use-case class of the workload-manager, with its parts as attributes."""

    def __init__(self, parts: WorkloadParts) -> None:
        self.settings = parts.settings
        self.deployments = parts.deployments
        self.services = parts.services
        self.projections = parts.projections
        self.leftovers = parts.leftovers
        self.cluster = parts.cluster
        self.connections = parts.connections
