"""What the use cases work with: app.py builds it from the real adapters, unit tests from
fakes of the same ports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from slipway_cluster_manager.domain.capabilities import HostCapabilities
from slipway_cluster_manager.domain.cluster import ClusterAggregate
from slipway_cluster_manager.domain.ports import ClusterDriver, Kubeconfigs, ProgressChannel
from slipway_cluster_manager.settings import ClusterManagerSettings
from slipway_libs.unit_of_work import Repository, UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """Settings, the cluster repository, one driver per backend (keyed by the entity's
    `driver`), the host's capabilities, kubeconfig files, the progress channel, and a unit
    of work.

    A unit of work serves one task at a time, so every handler call, periodic loop and
    progress flusher works on `for_one_task()`: a copy with a unit of work of its own.
    """

    settings: ClusterManagerSettings
    clusters: Repository[ClusterAggregate]
    drivers: Mapping[str, ClusterDriver]
    host: Callable[[], HostCapabilities]
    kubeconfigs: Kubeconfigs
    progress: ProgressChannel
    unit_of_work: Callable[[], UnitOfWork]
    uow: UnitOfWork = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uow", self.unit_of_work())

    def for_one_task(self) -> Dependencies:
        """The same dependencies with a fresh unit of work."""
        return replace(self)
