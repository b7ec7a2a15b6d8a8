"""The five entities: fields, statuses and transition tables (the public data model)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from slipway_contracts.common import DnsLabel, Entity, Model, SemVer
from slipway_libs.statemachine import TransitionTable

# Docker's reference grammar: path components of lower-case alphanumerics joined by
# '.', '_', '__' or dashes, separated by '/', optionally after a registry host[:port].
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
IMAGE_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
REPOSITORY = re.compile(rf"^{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*$")
IMAGE_TAG = re.compile(
    r"^(latest|v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)$"
)


def _image_name(value: str) -> str:
    if len(value) > 255 or not IMAGE_NAME.match(value):
        raise ValueError(
            f"'{value}' breaks Docker's naming rules: lower-case letters, digits and "
            "separators ('.', '_', '__', '-') between them, path parts joined by '/', "
            "at most 255 characters"
        )
    return value


def _image_tag(value: str) -> str:
    if len(value) > 128 or not IMAGE_TAG.match(value):
        raise ValueError(f"'{value}' is neither a semantic version (e.g. 1.4.2) nor 'latest'")
    return value


def _repository(value: str) -> str:
    if len(value) > 255 or not REPOSITORY.match(value):
        raise ValueError(f"'{value}' is not a valid repository (e.g. registry:5000/team/app)")
    return value


ImageName = Annotated[str, AfterValidator(_image_name)]
ImageTag = Annotated[str, AfterValidator(_image_tag)]
Repository = Annotated[str, AfterValidator(_repository)]


# --- ContainerImage ---------------------------------------------------------------


class ImageStatus(StrEnum):
    BUILDING = "building"
    BUILT = "built"
    FAILED = "failed"


class ApplicationType(StrEnum):
    FRONTEND = "frontend"
    BACKEND = "backend"


IMAGE_TRANSITIONS = TransitionTable.of(
    "container_image",
    [
        (ImageStatus.BUILDING, ImageStatus.BUILT),
        (ImageStatus.BUILDING, ImageStatus.FAILED),
        (ImageStatus.BUILT, ImageStatus.FAILED),
        (ImageStatus.BUILT, ImageStatus.BUILDING),
        (ImageStatus.FAILED, ImageStatus.BUILDING),
    ],
)


class BuildSpec(Model):
    context: str = Field(min_length=1, description="build context directory inside a build root")
    dockerfile: str = Field("Dockerfile", min_length=1, description="path inside the context")
    args: dict[str, str] = Field(default_factory=dict, description="build args")


class ContainerImage(Entity):
    name: ImageName
    tag: ImageTag
    application: ApplicationType
    repository: Repository | None = None
    build: BuildSpec
    status: ImageStatus
    size: int | None = Field(None, description="bytes, as the Docker Engine reports it")
    digest: str | None = Field(None, description="repo digest after a push, else the image id")
    image_id: str | None = None
    user: str | None = Field(None, description="the user the image runs as ('' = root)")
    reason: str | None = None
    build_id: str = Field(description="id of the current build attempt")
    deadline: datetime | None = Field(None, description="a build still running then fails")

    @property
    def reference(self) -> str:
        """`name:tag`, the local reference of the image."""
        return f"{self.name}:{self.tag}"


# --- HelmChart --------------------------------------------------------------------


class ChartStatus(StrEnum):
    VALIDATING = "validating"
    VALID = "valid"
    INVALID = "invalid"


CHART_TRANSITIONS = TransitionTable.of(
    "helm_chart",
    [
        (ChartStatus.VALIDATING, ChartStatus.VALID),
        (ChartStatus.VALIDATING, ChartStatus.INVALID),
        (ChartStatus.VALID, ChartStatus.INVALID),
        (ChartStatus.VALID, ChartStatus.VALIDATING),
        (ChartStatus.INVALID, ChartStatus.VALIDATING),
    ],
)


class Finding(Model):
    severity: Literal["error", "warning"]
    rule: str
    message: str
    file: str | None = None
    resource: str | None = None
    path: str | None = None


class ChartSourceRef(Model):
    """Where a chart's files are: a directory inside a chart root, or a stored archive."""

    path: str | None = Field(None, description="chart directory inside a chart root")
    archive_id: str | None = Field(None, description="id of the uploaded .tgz in GridFS")
    archive_size: int | None = Field(None, ge=0, description="bytes of the uploaded .tgz")
    archive_sha256: str | None = None


class HelmChart(Entity):
    name: DnsLabel
    version: SemVer
    description: str = ""
    app_version: str
    namespace: DnsLabel = "default"
    status: ChartStatus
    findings: list[Finding] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    kubernetes_version: str = "1.32"
    reason: str | None = None
    source: ChartSourceRef | None = None
    validation_id: str | None = Field(None, description="id of the current validation")
    deadline: datetime | None = Field(None, description="a validation still running then fails")


# --- MinikubeCluster --------------------------------------------------------------


class ClusterStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    ERROR = "error"


class ClusterDriverName(StrEnum):
    MINIKUBE = "minikube"
    KUBECONFIG = "kubeconfig"
    SIM = "sim"


CLUSTER_TRANSITIONS = TransitionTable.of(
    "minikube_cluster",
    [
        (ClusterStatus.STOPPED, ClusterStatus.RUNNING),
        (ClusterStatus.RUNNING, ClusterStatus.ERROR),
        (ClusterStatus.ERROR, ClusterStatus.RUNNING),
        (ClusterStatus.RUNNING, ClusterStatus.STOPPED),
    ],
)


class ClusterOperation(Model):
    action: Literal["start", "stop", "restart"]
    started_at: datetime
    deadline: datetime


class MinikubeCluster(Entity):
    name: DnsLabel
    driver: ClusterDriverName
    status: ClusterStatus
    cpus: int = Field(ge=1)
    memory: int = Field(ge=1, description="MB")
    disk_size: int = Field(ge=1, description="MB")
    kubernetes_version: str
    operation: ClusterOperation | None = None
    reason: str | None = None


# --- Deployment and Service -------------------------------------------------------


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    UPDATING = "updating"


DEPLOYMENT_TRANSITIONS = TransitionTable.of(
    "deployment",
    [
        (DeploymentStatus.PENDING, DeploymentStatus.RUNNING),
        (DeploymentStatus.PENDING, DeploymentStatus.FAILED),
        (DeploymentStatus.RUNNING, DeploymentStatus.UPDATING),
        (DeploymentStatus.UPDATING, DeploymentStatus.RUNNING),
        (DeploymentStatus.UPDATING, DeploymentStatus.FAILED),
    ],
)


class Deployment(Entity):
    name: DnsLabel
    namespace: DnsLabel = "default"
    cluster_id: str
    image_id: str | None = None
    image: str | None = None
    chart_id: str | None = None
    replicas: int = Field(ge=1)
    container_port: int = Field(ge=1, le=65535)
    status: DeploymentStatus
    reason: str | None = None


class ServiceStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"


SERVICE_TRANSITIONS = TransitionTable.of(
    "service",
    [
        (ServiceStatus.PENDING, ServiceStatus.ACTIVE),
        (ServiceStatus.PENDING, ServiceStatus.FAILED),
    ],
)


class Service(Entity):
    name: DnsLabel
    namespace: DnsLabel = "default"
    cluster_id: str
    deployment_id: str
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    port: int = Field(ge=1, le=65535)
    target_port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] = "TCP"
    status: ServiceStatus
    reason: str | None = None
