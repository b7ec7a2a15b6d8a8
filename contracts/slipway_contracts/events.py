"""Events: past-tense facts published on SLIPWAY_EVENTS as CloudEvents 1.0 JSON.

Subject `slipway.events.<entity>.<event>`, type `io.slipway.<entity>.<event>.v1`,
`subject` = entity id, `data` = entity snapshot plus `previous_status`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from slipway_contracts import subjects
from slipway_contracts.common import Model
from slipway_contracts.entities import (
    Alert,
    ContainerImage,
    Deployment,
    HelmChart,
    MinikubeCluster,
    Release,
    Service,
)


class CloudEvent(Model):
    """The CloudEvents 1.0 envelope with Slipway's extension attributes."""

    model_config = ConfigDict(extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str = Field(description="/slipway/<service>")
    type: str = Field(description="io.slipway.<entity>.<event>.v1")
    subject: str = Field(description="the entity id")
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    entityversion: int = Field(ge=1, description="the entity's revision after this change")
    correlationid: str
    causationid: str | None = None
    traceparent: str | None = Field(
        None, description="W3C trace context of the change (CloudEvents distributed tracing)"
    )
    data: dict[str, object]


class ContainerImageData(ContainerImage):
    previous_status: str | None = None


class HelmChartData(HelmChart):
    previous_status: str | None = None


class MinikubeClusterData(MinikubeCluster):
    previous_status: str | None = None


class DeploymentData(Deployment):
    previous_status: str | None = None


class ServiceData(Service):
    previous_status: str | None = None


class ContainerImageEvent(CloudEvent):
    data: ContainerImageData  # type: ignore[assignment]


class ImageCreated(ContainerImageEvent):
    """An image was registered; its first build is queued."""


class ImageUpdated(ContainerImageEvent):
    """An image's fields changed without a rebuild."""


class ImageDeleted(ContainerImageEvent):
    """An image record was removed."""


class ImageBuildStarted(ContainerImageEvent):
    """An image is (re)building."""


class ImageBuilt(ContainerImageEvent):
    """An image was built; `size`, `digest` and `user` are set."""


class ImageFailed(ContainerImageEvent):
    """A build failed, or a built image vanished; `reason` says why."""


class ImageScanned(ContainerImageEvent):
    """A scan of an image ended (complete, partial or failed); `scan` holds its counts and
    findings. Under the enforce policy a root image or a critical finding then fails it."""


class HelmChartEvent(CloudEvent):
    data: HelmChartData  # type: ignore[assignment]


class ChartCreated(HelmChartEvent):
    """A chart was registered; its first validation is queued."""


class ChartUpdated(HelmChartEvent):
    """A chart's fields changed (a new validation replaced one still running)."""


class ChartDeleted(HelmChartEvent):
    """A chart record was removed."""


class ChartValidationStarted(HelmChartEvent):
    """A chart is being (re)validated."""


class ChartValid(HelmChartEvent):
    """A chart passed validation; `findings` holds its warnings, if any."""


class ChartInvalid(HelmChartEvent):
    """A chart failed validation; `findings` lists every problem (or `reason` says why)."""


class MinikubeClusterEvent(CloudEvent):
    data: MinikubeClusterData  # type: ignore[assignment]


class ClusterCreated(MinikubeClusterEvent):
    """A cluster was registered (stopped; a start may be queued)."""


class ClusterUpdated(MinikubeClusterEvent):
    """A cluster's fields changed: an operation began or ended without a status change."""


class ClusterDeleted(MinikubeClusterEvent):
    """A cluster was removed from its backend and its record deleted."""


class ClusterRunning(MinikubeClusterEvent):
    """A cluster started, or recovered from `error`; `api_server` is set."""


class ClusterStopped(MinikubeClusterEvent):
    """A cluster was stopped; its state is kept for the next start."""


class ClusterError(MinikubeClusterEvent):
    """A cluster failed to start, overran its deadline or stopped answering; `reason` says why."""


class DeploymentEvent(CloudEvent):
    data: DeploymentData  # type: ignore[assignment]


class DeploymentCreated(DeploymentEvent):
    """A Deployment was accepted (pending); its rollout is queued."""


class DeploymentUpdated(DeploymentEvent):
    """A Deployment's fields changed without a status change (replica counts, drift, reason)."""


class DeploymentDeleted(DeploymentEvent):
    """A Deployment was removed from its cluster and its record deleted."""


class DeploymentRunning(DeploymentEvent):
    """A rollout is available: available replicas reached the desired count."""


class DeploymentFailed(DeploymentEvent):
    """A rollout failed or its cluster went away; `reason` gives the cluster's reason."""


class DeploymentUpdating(DeploymentEvent):
    """A change (PUT, scale, repair, the cluster's return) is rolling out."""


class ServiceEvent(CloudEvent):
    data: ServiceData  # type: ignore[assignment]


class ServiceCreated(ServiceEvent):
    """A Service was accepted (pending); it is being applied to the cluster."""


class ServiceUpdated(ServiceEvent):
    """A Service's fields changed without a status change (endpoints, drift, reason)."""


class ServiceDeleted(ServiceEvent):
    """A Service was removed from its cluster and its record deleted."""


class ServicePending(ServiceEvent):
    """A Service is waiting for ready endpoints or a load-balancer address again."""


class ServiceActive(ServiceEvent):
    """A Service has ready endpoints (or an ingress address for a LoadBalancer)."""


class ServiceFailed(ServiceEvent):
    """A Service could not be applied or lost its endpoints; `reason` says why."""


class ReleaseData(Release):
    previous_status: str | None = None


class ReleaseEvent(CloudEvent):
    data: ReleaseData  # type: ignore[assignment]


class ReleaseCreated(ReleaseEvent):
    """A Release was accepted (pending); helm's install is queued."""


class ReleaseUpdated(ReleaseEvent):
    """A Release's fields changed without a status change (history, workloads, reason)."""


class ReleaseDeleted(ReleaseEvent):
    """An uninstalled Release's record was removed."""


class ReleaseDeployed(ReleaseEvent):
    """helm installed, upgraded or rolled back the release and every workload it renders is
    available."""


class ReleaseFailed(ReleaseEvent):
    """helm failed, or the release's workloads did not become available by the deadline;
    `reason` says why."""


class ReleaseUpdating(ReleaseEvent):
    """An upgrade or a rollback is under way."""


class ReleaseUninstalled(ReleaseEvent):
    """helm uninstalled the release; its Deployments and Services are gone."""


class AlertData(Alert):
    previous_status: str | None = None


class AlertEvent(CloudEvent):
    data: AlertData  # type: ignore[assignment]


class AlertFiring(AlertEvent):
    """An alert started firing (or fired again after it resolved)."""


class AlertResolved(AlertEvent):
    """A firing alert resolved."""


# (entity, event name) -> event model; the event name is the subject's last token.
EVENT_CATALOG: dict[tuple[str, str], type[CloudEvent]] = {
    (subjects.CONTAINER_IMAGE, "created"): ImageCreated,
    (subjects.CONTAINER_IMAGE, "updated"): ImageUpdated,
    (subjects.CONTAINER_IMAGE, "deleted"): ImageDeleted,
    (subjects.CONTAINER_IMAGE, "building"): ImageBuildStarted,
    (subjects.CONTAINER_IMAGE, "built"): ImageBuilt,
    (subjects.CONTAINER_IMAGE, "failed"): ImageFailed,
    (subjects.CONTAINER_IMAGE, "scanned"): ImageScanned,
    (subjects.HELM_CHART, "created"): ChartCreated,
    (subjects.HELM_CHART, "updated"): ChartUpdated,
    (subjects.HELM_CHART, "deleted"): ChartDeleted,
    (subjects.HELM_CHART, "validating"): ChartValidationStarted,
    (subjects.HELM_CHART, "valid"): ChartValid,
    (subjects.HELM_CHART, "invalid"): ChartInvalid,
    (subjects.MINIKUBE_CLUSTER, "created"): ClusterCreated,
    (subjects.MINIKUBE_CLUSTER, "updated"): ClusterUpdated,
    (subjects.MINIKUBE_CLUSTER, "deleted"): ClusterDeleted,
    (subjects.MINIKUBE_CLUSTER, "running"): ClusterRunning,
    (subjects.MINIKUBE_CLUSTER, "stopped"): ClusterStopped,
    (subjects.MINIKUBE_CLUSTER, "error"): ClusterError,
    (subjects.DEPLOYMENT, "created"): DeploymentCreated,
    (subjects.DEPLOYMENT, "updated"): DeploymentUpdated,
    (subjects.DEPLOYMENT, "deleted"): DeploymentDeleted,
    (subjects.DEPLOYMENT, "running"): DeploymentRunning,
    (subjects.DEPLOYMENT, "failed"): DeploymentFailed,
    (subjects.DEPLOYMENT, "updating"): DeploymentUpdating,
    (subjects.SERVICE, "created"): ServiceCreated,
    (subjects.SERVICE, "updated"): ServiceUpdated,
    (subjects.SERVICE, "deleted"): ServiceDeleted,
    (subjects.SERVICE, "pending"): ServicePending,
    (subjects.SERVICE, "active"): ServiceActive,
    (subjects.SERVICE, "failed"): ServiceFailed,
    (subjects.RELEASE, "created"): ReleaseCreated,
    (subjects.RELEASE, "updated"): ReleaseUpdated,
    (subjects.RELEASE, "deleted"): ReleaseDeleted,
    (subjects.RELEASE, "deployed"): ReleaseDeployed,
    (subjects.RELEASE, "failed"): ReleaseFailed,
    (subjects.RELEASE, "updating"): ReleaseUpdating,
    (subjects.RELEASE, "uninstalled"): ReleaseUninstalled,
    (subjects.ALERT, "firing"): AlertFiring,
    (subjects.ALERT, "resolved"): AlertResolved,
}


def events_of(entity: str) -> dict[str, type[CloudEvent]]:
    """The events an entity type publishes, by event name."""
    return {name: model for (ent, name), model in EVENT_CATALOG.items() if ent == entity}


__all__ = [
    "EVENT_CATALOG",
    "AlertData",
    "AlertEvent",
    "AlertFiring",
    "AlertResolved",
    "ChartCreated",
    "ChartDeleted",
    "ChartInvalid",
    "ChartUpdated",
    "ChartValid",
    "ChartValidationStarted",
    "CloudEvent",
    "ClusterCreated",
    "ClusterDeleted",
    "ClusterError",
    "ClusterRunning",
    "ClusterStopped",
    "ClusterUpdated",
    "ContainerImageData",
    "ContainerImageEvent",
    "DeploymentCreated",
    "DeploymentData",
    "DeploymentDeleted",
    "DeploymentEvent",
    "DeploymentFailed",
    "DeploymentRunning",
    "DeploymentUpdated",
    "DeploymentUpdating",
    "HelmChartData",
    "HelmChartEvent",
    "ImageBuildStarted",
    "ImageBuilt",
    "ImageCreated",
    "ImageDeleted",
    "ImageFailed",
    "ImageScanned",
    "ImageUpdated",
    "MinikubeClusterData",
    "MinikubeClusterEvent",
    "ProgressLines",
    "ReleaseCreated",
    "ReleaseDeleted",
    "ReleaseDeployed",
    "ReleaseEvent",
    "ReleaseFailed",
    "ReleaseUninstalled",
    "ReleaseUpdated",
    "ReleaseUpdating",
    "ServiceActive",
    "ServiceCreated",
    "ServiceData",
    "ServiceDeleted",
    "ServiceEvent",
    "ServiceFailed",
    "ServicePending",
    "ServiceUpdated",
    "events_of",
]


class ProgressLines(Model):
    """Live progress of an entity's work in flight (a build, a cluster operation, a
    rollout): the newest lines, on core NATS, best effort and never replayed."""

    id: str = Field(description="the entity's id")
    lines: list[str] = Field(description="progress lines, oldest first")
    operation_id: str | None = Field(
        None, description="the cluster operation the lines belong to (clusters only)"
    )
