"""Which defaulting and validation strategy each served kind uses."""

from __future__ import annotations

from slipway_simcluster.resources import (
    CRONJOBS,
    CUSTOM_RESOURCE_DEFINITIONS,
    DAEMONSETS,
    DEPLOYMENTS,
    JOBS,
    NAMESPACES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    PODS,
    SECRETS,
    SERVICES,
    STATEFULSETS,
    ResourceType,
)
from slipway_simcluster.strategies import (
    DeploymentStrategy,
    NamespaceStrategy,
    PodStrategy,
    SecretStrategy,
    ServiceStrategy,
    SpecAndStatusStrategy,
    Strategy,
)
from slipway_simcluster.workload_strategies import (
    CronJobStrategy,
    CustomResourceDefinitionStrategy,
    DaemonSetStrategy,
    JobStrategy,
    PersistentVolumeClaimStrategy,
    PersistentVolumeStrategy,
    StatefulSetStrategy,
    custom_resource_strategy,
)

STRATEGIES: dict[str, Strategy] = {
    NAMESPACES.key: NamespaceStrategy(),
    DEPLOYMENTS.key: DeploymentStrategy(),
    PODS.key: PodStrategy(),
    SERVICES.key: ServiceStrategy(),
    SECRETS.key: SecretStrategy(),
    STATEFULSETS.key: StatefulSetStrategy(),
    DAEMONSETS.key: DaemonSetStrategy(),
    JOBS.key: JobStrategy(),
    CRONJOBS.key: CronJobStrategy(),
    PERSISTENT_VOLUME_CLAIMS.key: PersistentVolumeClaimStrategy(),
    PERSISTENT_VOLUMES.key: PersistentVolumeStrategy(),
    CUSTOM_RESOURCE_DEFINITIONS.key: CustomResourceDefinitionStrategy(),
}
_PLAIN = Strategy()
_WITH_STATUS = SpecAndStatusStrategy()


def strategy_for(rt: ResourceType) -> Strategy:
    """The strategy of a resource type: its own, or the generic one for its shape."""
    if rt.custom:
        return custom_resource_strategy(rt)
    if rt.key in STRATEGIES:
        return STRATEGIES[rt.key]
    return _WITH_STATUS if "status" in rt.subresources else _PLAIN
