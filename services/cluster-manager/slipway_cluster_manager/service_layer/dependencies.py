"""What the use cases work with: app.py builds it once from the real adapters (handlers get
it as FastStream `Context`), unit tests from fakes of the same ports."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from slipway_cluster_manager.domain.alert import AlertAggregate
from slipway_cluster_manager.domain.capabilities import HostCapabilities
from slipway_cluster_manager.domain.cluster import ClusterAggregate
from slipway_cluster_manager.domain.ports import (
    ClusterCredentials,
    ClusterDriver,
    Kubeconfigs,
    ProgressChannel,
)
from slipway_cluster_manager.settings import ClusterManagerSettings
from slipway_libs.unit_of_work import Repository, UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """Settings, the unit of work (one serves every task: each `async with uow:` is the
    opening task's own transaction), the cluster repository, one driver per backend (keyed
    by the entity's `driver`), the host's capabilities, kubeconfig files, the clusters'
    sealed credentials, the progress channel, and the alerts (`domain.alert`)."""

    settings: ClusterManagerSettings
    uow: UnitOfWork
    clusters: Repository[ClusterAggregate]
    drivers: Mapping[str, ClusterDriver]
    host: Callable[[], HostCapabilities]
    kubeconfigs: Kubeconfigs
    credentials: ClusterCredentials
    progress: ProgressChannel
    alerts: Repository[AlertAggregate]
