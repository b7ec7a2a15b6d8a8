"""Commands: imperative requests that change an entity (request-reply over NATS)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from slipway_contracts.common import DnsLabel, Model, Revision, SemVer
from slipway_contracts.entities import (
    ApplicationType,
    BuildSpec,
    ClusterDriverName,
    ImageName,
    ImageTag,
    Placement,
    ProbeSettings,
    Repository,
    Resources,
    ValuesPath,
)


class RegistryAuth(Model):
    """Basic-auth credentials of the registry `repository` names."""

    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=4096, repr=False)


class ImageSpec(Model):
    """The client-settable fields of a ContainerImage (POST and PUT bodies)."""

    name: ImageName
    tag: ImageTag
    application: ApplicationType
    repository: Repository | None = None
    build: BuildSpec
    registry_auth: RegistryAuth | None = Field(
        None,
        repr=False,
        description="credentials to push to `repository`'s registry: kept encrypted, never "
        "shown again (the image shows `registry_username`)",
    )

    @model_validator(mode="after")
    def _auth_needs_repository(self) -> Self:
        if self.registry_auth is not None and self.repository is None:
            raise ValueError("registry_auth is given but no repository to push to")
        return self


class BuildImage(ImageSpec):
    """Register an image and build it (`slipway.container_image.cmd.create`)."""


class RebuildImage(ImageSpec):
    """Replace an image's spec; a changed tag or build spec rebuilds it (`...cmd.update`)."""

    id: str
    expected_revision: Revision | None = None


class DeleteImage(Model):
    """Remove an image record, and its engine image when asked (`...cmd.delete`)."""

    id: str
    expected_revision: Revision | None = None
    remove_image: bool = False


class VerifyImage(Model):
    """Check that a built image still exists in the engine (`...cmd.verify`)."""

    id: str


class ScanImage(Model):
    """Scan a built image again (`...cmd.scan`): its scan becomes pending and a scan job is
    queued."""

    id: str


IMAGE_COMMANDS: dict[str, type[Model]] = {
    "create": BuildImage,
    "update": RebuildImage,
    "delete": DeleteImage,
    "verify": VerifyImage,
    "scan": ScanImage,
}


class ChartSource(Model):
    """Exactly one of: a chart directory inside a chart root, or a base64 `.tgz`."""

    path: str | None = Field(None, min_length=1, description="chart directory in a chart root")
    archive: str | None = Field(None, min_length=1, description="base64 of a packaged chart")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.path is None) == (self.archive is None):
            raise ValueError("give exactly one of 'path' or 'archive'")
        return self


class ChartSpec(Model):
    """The client-settable fields of a HelmChart (POST and PUT bodies)."""

    name: DnsLabel
    version: SemVer
    description: str = ""
    app_version: str = Field(min_length=1)
    namespace: DnsLabel = "default"
    source: ChartSource
    values: dict[str, Any] = Field(default_factory=dict, description="overrides of values.yaml")
    kubernetes_version: str = Field("1.32", description="schemas to validate against")


class RegisterChart(ChartSpec):
    """Register a chart and validate it (`slipway.helm_chart.cmd.create`)."""


class UpdateChart(ChartSpec):
    """Replace a chart's spec; every change re-validates it (`...cmd.update`)."""

    id: str
    expected_revision: Revision | None = None


class DeleteChart(Model):
    """Remove a chart record and its stored archive (`...cmd.delete`)."""

    id: str
    expected_revision: Revision | None = None


class ValidateChart(Model):
    """Validate a chart again, e.g. after its files changed on disk (`...cmd.validate`)."""

    id: str
    expected_revision: Revision | None = None


CHART_COMMANDS: dict[str, type[Model]] = {
    "create": RegisterChart,
    "update": UpdateChart,
    "delete": DeleteChart,
    "validate": ValidateChart,
}


class ClusterSpec(Model):
    """A cluster to manage (`POST /api/minikube-clusters`).

    `cpus`, `memory` and `disk_size` are checked against the host's capabilities;
    `kubeconfig` (a file under the server's kubeconfig roots) or `kubeconfig_data` (the
    kubeconfig itself) and `context` attach an existing cluster (driver `kubeconfig`).
    """

    name: DnsLabel = Field(description="the minikube profile name")
    driver: ClusterDriverName = ClusterDriverName.MINIKUBE
    cpus: int = Field(2, ge=1)
    memory: int = Field(2048, ge=1, description="MB")
    disk_size: int = Field(20000, ge=1, description="MB")
    kubernetes_version: str = Field("v1.32.0", description="vMAJOR.MINOR.PATCH")
    kubeconfig: str | None = Field(None, min_length=1, description="kubeconfig driver: file")
    kubeconfig_data: str | None = Field(
        None,
        min_length=1,
        max_length=256 * 1024,
        repr=False,
        description="kubeconfig driver: the kubeconfig's content (YAML), instead of a file; "
        "kept encrypted and never shown again",
    )
    context: str | None = Field(None, min_length=1, description="kubeconfig driver: context")


class CreateCluster(ClusterSpec):
    """Register a cluster, stopped; `start` also starts it (`slipway.minikube_cluster.cmd.create`)."""

    start: bool = False


class ClusterAction(Model):
    id: str
    expected_revision: Revision | None = None


class StartCluster(ClusterAction):
    """Start a stopped (or errored) cluster (`...cmd.start`)."""


class StopCluster(ClusterAction):
    """Stop a running (or errored) cluster, keeping its state (`...cmd.stop`)."""


class RestartCluster(ClusterAction):
    """Stop, then start a cluster (`...cmd.restart`)."""


class DeleteCluster(ClusterAction):
    """Remove a cluster from its backend, then the record (`...cmd.delete`): the reply is the
    cluster with the delete in flight; a `deleted` event follows (or `error` with the reason)."""


class LoadImage(Model):
    """Make a local image available to a running cluster (`...cmd.load_image`)."""

    id: str
    image: str = Field(min_length=1, description="image reference, name:tag")


CLUSTER_COMMANDS: dict[str, type[Model]] = {
    "create": CreateCluster,
    "start": StartCluster,
    "stop": StopCluster,
    "restart": RestartCluster,
    "delete": DeleteCluster,
    "load_image": LoadImage,
}


class DeploymentSpec(Model):
    """The client-settable fields of a Deployment (POST and PUT bodies).

    Give `image_id` (a built ContainerImage) or `image` (the `name:tag` of one); the
    cluster must be running and a `chart_id`, when given, a valid chart. `placement` says
    where the pods run (node labels, pod affinity and anti-affinity, topology spread); left
    out, the replicas are spread over the nodes as a preference.
    """

    name: DnsLabel
    namespace: DnsLabel = "default"
    cluster_id: str = Field(min_length=1)
    image_id: str | None = Field(None, min_length=1)
    image: str | None = Field(None, min_length=1)
    chart_id: str | None = Field(None, min_length=1)
    replicas: int = Field(1, ge=1, le=1000)
    container_port: int = Field(ge=1, le=65535)
    resources: Resources = Field(default_factory=Resources)
    env: dict[str, str] = Field(default_factory=dict)
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    progress_deadline_seconds: int = Field(120, ge=10, le=3600)
    placement: Placement = Field(default_factory=Placement)

    @model_validator(mode="after")
    def _image_given(self) -> Self:
        if self.image_id is None and self.image is None:
            raise ValueError("give 'image_id' or 'image'")
        return self


class CreateDeployment(DeploymentSpec):
    """Roll out a new Deployment (`slipway.deployment.cmd.create`)."""


class UpdateDeployment(DeploymentSpec):
    """Replace a Deployment's spec and roll it out again (`...cmd.update`)."""

    id: str
    expected_revision: Revision | None = None


class ScaleDeployment(Model):
    """Change a Deployment's replica count (`...cmd.scale`)."""

    id: str
    replicas: int = Field(ge=1, le=1000)
    expected_revision: Revision | None = None


class DeleteDeployment(Model):
    """Remove a Deployment from its cluster, then the record (`...cmd.delete`)."""

    id: str
    expected_revision: Revision | None = None


class RepairDeployment(Model):
    """Re-apply a Deployment whose cluster objects drifted (`...cmd.repair`)."""

    id: str
    expected_revision: Revision | None = None


DEPLOYMENT_COMMANDS: dict[str, type[Model]] = {
    "create": CreateDeployment,
    "update": UpdateDeployment,
    "scale": ScaleDeployment,
    "delete": DeleteDeployment,
    "repair": RepairDeployment,
}


class ServiceSpec(Model):
    """The client-settable fields of a Service; its cluster is its deployment's."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    deployment_id: str = Field(min_length=1)
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    port: int = Field(ge=1, le=65535)
    target_port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] = "TCP"


class CreateService(ServiceSpec):
    """Create a Service in front of a Deployment (`slipway.service.cmd.create`)."""


class UpdateService(ServiceSpec):
    """Replace a Service's spec and apply it again (`...cmd.update`)."""

    id: str
    expected_revision: Revision | None = None


class DeleteService(Model):
    """Remove a Service from its cluster, then the record (`...cmd.delete`)."""

    id: str
    expected_revision: Revision | None = None


SERVICE_COMMANDS: dict[str, type[Model]] = {
    "create": CreateService,
    "update": UpdateService,
    "delete": DeleteService,
}


class ReleaseSpec(Model):
    """The client-settable fields of a Release (POST and PUT bodies): a valid chart, a
    running cluster, values, and built images set into the values at the given paths."""

    name: DnsLabel = Field(max_length=53, description="the helm release name")
    namespace: DnsLabel = "default"
    cluster_id: str = Field(min_length=1)
    chart_id: str = Field(min_length=1)
    values: dict[str, Any] = Field(default_factory=dict, description="helm values")
    images: dict[ValuesPath, str] = Field(
        default_factory=dict,
        description='values path -> ContainerImage id, e.g. {"backend.image": "<id>"}',
    )
    timeout_seconds: int = Field(300, ge=10, le=3600, description="install or upgrade deadline")


class InstallRelease(ReleaseSpec):
    """Install a chart onto a cluster (`slipway.release.cmd.create`)."""


class UpgradeRelease(ReleaseSpec):
    """Upgrade a release with new values, images or chart (`...cmd.update`)."""

    id: str
    expected_revision: Revision | None = None


class RollbackRelease(Model):
    """Roll a release back to an earlier helm revision (`...cmd.rollback`)."""

    id: str
    revision: int = Field(ge=1, description="the helm revision to return to")
    expected_revision: Revision | None = None


class UninstallRelease(Model):
    """Uninstall a release and remove its Deployments and Services (`...cmd.delete`)."""

    id: str
    expected_revision: Revision | None = None


RELEASE_COMMANDS: dict[str, type[Model]] = {
    "create": InstallRelease,
    "update": UpgradeRelease,
    "rollback": RollbackRelease,
    "delete": UninstallRelease,
}

__all__ = [
    "CHART_COMMANDS",
    "CLUSTER_COMMANDS",
    "DEPLOYMENT_COMMANDS",
    "IMAGE_COMMANDS",
    "RELEASE_COMMANDS",
    "SERVICE_COMMANDS",
    "BuildImage",
    "ChartSource",
    "ChartSpec",
    "ClusterAction",
    "ClusterSpec",
    "CreateCluster",
    "CreateDeployment",
    "CreateService",
    "DeleteChart",
    "DeleteCluster",
    "DeleteDeployment",
    "DeleteImage",
    "DeleteService",
    "DeploymentSpec",
    "ImageSpec",
    "InstallRelease",
    "LoadImage",
    "RebuildImage",
    "RegisterChart",
    "RegistryAuth",
    "ReleaseSpec",
    "RepairDeployment",
    "RestartCluster",
    "RollbackRelease",
    "ScaleDeployment",
    "ScanImage",
    "ServiceSpec",
    "StartCluster",
    "StopCluster",
    "UninstallRelease",
    "UpdateChart",
    "UpdateDeployment",
    "UpdateService",
    "UpgradeRelease",
    "ValidateChart",
    "VerifyImage",
]


# --- Alerts ------------------------------------------------------------------------------


class ReceivedAlert(Model):
    """One alert as Alertmanager's webhook delivers it (webhook payload version 4)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(description="must hold `alertname`")
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str | None = Field(None, alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z]+$")

    @model_validator(mode="after")
    def _named(self) -> Self:
        if not self.labels.get("alertname"):
            raise ValueError("labels: an alert needs the label 'alertname'")
        return self


class RecordAlerts(Model):
    """Record the alerts Alertmanager delivered, firing or resolved (`slipway.alert.cmd.record`)."""

    model_config = ConfigDict(extra="ignore")

    alerts: list[ReceivedAlert] = Field(min_length=1, max_length=1000)


ALERT_COMMANDS: dict[str, type[Model]] = {"record": RecordAlerts}
