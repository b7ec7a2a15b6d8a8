"""The five entities: fields, statuses and transition tables (the public data model)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from slipway_contracts.common import DnsLabel, Entity, Model, SemVer, matching

# Docker's reference grammar: path components of lower-case alphanumerics joined by
# '.', '_', '__' or dashes, separated by '/', optionally after a registry host[:port].
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)"
IMAGE_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
REPOSITORY = re.compile(rf"^{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*$")
IMAGE_TAG = re.compile(
    r"^(latest|v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)$"
)


_image_name = matching(
    IMAGE_NAME,
    "breaks Docker's naming rules: lower-case letters, digits and separators "
    "('.', '_', '__', '-') between them, path parts joined by '/', at most 255 characters",
    max_length=255,
)
_image_tag = matching(
    IMAGE_TAG, "is neither a semantic version (e.g. 1.4.2) nor 'latest'", max_length=128
)
_repository = matching(
    REPOSITORY, "is not a valid repository (e.g. registry:5000/team/app)", max_length=255
)


ImageName = Annotated[str, AfterValidator(_image_name)]
ImageTag = Annotated[str, AfterValidator(_image_tag)]
Repository = Annotated[str, AfterValidator(_repository)]

Transitions = tuple[tuple[str, str], ...]
"""An entity's transition table as data: the legal (from, to) status pairs. The guard that
enforces it lives with the aggregates (`slipway_libs.statemachine`)."""


# --- ContainerImage ---------------------------------------------------------------


class ImageStatus(StrEnum):
    BUILDING = "building"
    BUILT = "built"
    FAILED = "failed"


class ApplicationType(StrEnum):
    FRONTEND = "frontend"
    BACKEND = "backend"


IMAGE_TRANSITIONS: Transitions = (
    (ImageStatus.BUILDING, ImageStatus.BUILT),
    (ImageStatus.BUILDING, ImageStatus.FAILED),
    (ImageStatus.BUILT, ImageStatus.FAILED),
    (ImageStatus.BUILT, ImageStatus.BUILDING),
    (ImageStatus.FAILED, ImageStatus.BUILDING),
)


class BuildSpec(Model):
    context: str = Field(min_length=1, description="build context directory inside a build root")
    dockerfile: str = Field("Dockerfile", min_length=1, description="path inside the context")
    args: dict[str, str] = Field(default_factory=dict, description="build args")


class ScanStatus(StrEnum):
    PENDING = "pending"
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"


class FindingKind(StrEnum):
    SECRET = "secret"
    MISCONFIG = "misconfig"
    VULNERABILITY = "vulnerability"
    POLICY = "policy"


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    UNKNOWN = "UNKNOWN"


class ScanFinding(Model):
    """One finding of an image scan. A secret is named by its rule, file and layer: its
    value is never stored nor shown."""

    kind: FindingKind
    severity: Severity
    rule: str = Field(description="the rule or advisory id (e.g. aws-access-key-id, DS-0002)")
    title: str
    file: str | None = Field(None, description="the file in the image, or the Dockerfile")
    layer: str | None = Field(None, description="the layer's diff id")
    package: str | None = None
    installed_version: str | None = None
    fixed_version: str | None = None


class ImageScan(Model):
    """The latest security scan of an image (Trivy: secrets, misconfigurations,
    vulnerabilities when a database is there; plus Slipway's policy rules)."""

    status: ScanStatus
    scan_id: str = Field(description="id of this scan (its job's id)")
    requested_at: datetime
    scanned_at: datetime | None = None
    scanners: dict[str, str] = Field(
        default_factory=dict, description="scanner name -> version, e.g. trivy: 0.76.0"
    )
    counts: dict[Severity, int] = Field(
        default_factory=dict, description="findings by severity (all of them)"
    )
    findings: list[ScanFinding] = Field(
        default_factory=list, description="the findings, most severe first"
    )
    findings_omitted: int = Field(
        0, ge=0, description="findings left out of `findings` (past the kept maximum)"
    )
    skipped: list[str] = Field(
        default_factory=list, description="what could not be checked, and why"
    )
    reason: str | None = Field(None, description="why a failed scan failed")
    sbom: bool = Field(False, description="whether a CycloneDX SBOM is kept (GET .../sbom)")


class ContainerImage(Entity):
    name: ImageName
    tag: ImageTag
    application: ApplicationType
    repository: Repository | None = None
    registry_username: str | None = Field(
        None, description="who pushes to `repository` (the password is kept encrypted apart)"
    )
    build: BuildSpec
    status: ImageStatus
    size: int | None = Field(None, description="bytes, as the Docker Engine reports it")
    digest: str | None = Field(None, description="repo digest after a push, else the image id")
    image_id: str | None = None
    user: str | None = Field(None, description="the user the image runs as ('' = root)")
    reason: str | None = None
    build_id: str = Field(description="id of the current build attempt")
    deadline: datetime | None = Field(None, description="a build still running then fails")
    scan: ImageScan | None = Field(None, description="the latest security scan")

    @property
    def reference(self) -> str:
        """`name:tag`, the local reference of the image."""
        return f"{self.name}:{self.tag}"


# --- HelmChart --------------------------------------------------------------------


class ChartStatus(StrEnum):
    VALIDATING = "validating"
    VALID = "valid"
    INVALID = "invalid"


CHART_TRANSITIONS: Transitions = (
    (ChartStatus.VALIDATING, ChartStatus.VALID),
    (ChartStatus.VALIDATING, ChartStatus.INVALID),
    (ChartStatus.VALID, ChartStatus.INVALID),
    (ChartStatus.VALID, ChartStatus.VALIDATING),
    (ChartStatus.INVALID, ChartStatus.VALIDATING),
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


CLUSTER_TRANSITIONS: Transitions = (
    (ClusterStatus.STOPPED, ClusterStatus.RUNNING),
    (ClusterStatus.RUNNING, ClusterStatus.ERROR),
    (ClusterStatus.ERROR, ClusterStatus.RUNNING),
    (ClusterStatus.RUNNING, ClusterStatus.STOPPED),
    # A start that fails or overruns its deadline ends in error, not stuck in stopped;
    # an errored cluster can still be stopped.
    (ClusterStatus.STOPPED, ClusterStatus.ERROR),
    (ClusterStatus.ERROR, ClusterStatus.STOPPED),
)


class ClusterOperation(Model):
    """A start, stop, restart or delete in flight; it ends by its deadline, whatever happens
    (a delete that succeeds removes the cluster)."""

    id: str = Field(description="id of this operation (the job's id)")
    action: Literal["start", "stop", "restart", "delete"]
    started_at: datetime
    deadline: datetime
    progress: list[str] = Field(
        default_factory=list, description="the latest progress lines of the driver"
    )


class MinikubeCluster(Entity):
    name: DnsLabel = Field(description="the minikube profile name")
    driver: ClusterDriverName
    status: ClusterStatus
    cpus: int = Field(ge=1)
    memory: int = Field(ge=1, description="MB")
    disk_size: int = Field(ge=1, description="MB")
    kubernetes_version: str = Field(description="vMAJOR.MINOR.PATCH")
    kubeconfig: str | None = Field(
        None, description="kubeconfig driver: the kubeconfig file to attach"
    )
    context: str | None = Field(None, description="kubeconfig driver: the context to attach")
    api_server: str | None = Field(None, description="the API server URL while running")
    operation: ClusterOperation | None = None
    reason: str | None = None
    last_probe: datetime | None = Field(None, description="when health was last observed")


# --- Deployment and Service -------------------------------------------------------


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    UPDATING = "updating"


DEPLOYMENT_TRANSITIONS: Transitions = (
    (DeploymentStatus.PENDING, DeploymentStatus.RUNNING),
    (DeploymentStatus.PENDING, DeploymentStatus.FAILED),
    (DeploymentStatus.RUNNING, DeploymentStatus.UPDATING),
    (DeploymentStatus.UPDATING, DeploymentStatus.RUNNING),
    (DeploymentStatus.UPDATING, DeploymentStatus.FAILED),
    # The cluster went away or the rollout broke behind Slipway's back.
    (DeploymentStatus.RUNNING, DeploymentStatus.FAILED),
    # A failed deployment is fixed by a PUT, a scale or its cluster's return.
    (DeploymentStatus.FAILED, DeploymentStatus.UPDATING),
)


class ResourceAmounts(Model):
    cpu: str = Field(pattern=r"^[0-9]+(\.[0-9]+)?m?$", description="Kubernetes CPU quantity")
    memory: str = Field(
        pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$",
        description="Kubernetes memory quantity",
    )


class Resources(Model):
    """Container requests and limits; the defaults follow the performance rules."""

    requests: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="50m", memory="32Mi")
    )
    limits: ResourceAmounts = Field(
        default_factory=lambda: ResourceAmounts(cpu="500m", memory="128Mi")
    )


class ProbeSettings(Model):
    """Liveness and readiness probes on the container port (TCP, or HTTP GET on `path`)."""

    path: str | None = Field(None, pattern=r"^/", description="HTTP path; TCP check when unset")
    initial_delay_seconds: int = Field(0, ge=0, le=3600)
    period_seconds: int = Field(10, ge=1, le=3600)
    failure_threshold: int = Field(3, ge=1, le=100)


# Kubernetes label syntax: a key is an optional DNS-subdomain prefix and '/', then a name
# of at most 63 characters; a value is such a name, or empty.
_LABEL_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_PREFIX = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
LABEL_KEY = re.compile(rf"^(?:{_LABEL_PREFIX}/)?{_LABEL_NAME}$")
LABEL_VALUE = re.compile(rf"^(?:{_LABEL_NAME})?$")
HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"
MAX_PLACEMENT_RULES = 8
"""At most this many terms per affinity list, spread constraints or node labels: inter-pod
affinity is the scheduler's most expensive check, and a longer list is rarely meant."""
DEFAULT_AFFINITY_WEIGHT = 100


def _label_key(value: str) -> str:
    prefix, _, _ = value.rpartition("/")
    if len(prefix) > 253 or not LABEL_KEY.match(value):
        raise ValueError(
            f"'{value}' is not a valid label key: an optional DNS subdomain and '/', then "
            "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter "
            f"or digit (e.g. {HOSTNAME_TOPOLOGY})"
        )
    return value


_label_value = matching(
    LABEL_VALUE,
    "is not a valid label value: at most 63 letters, digits, '-', '_' or '.', "
    "starting and ending with a letter or digit",
)


LabelKey = Annotated[str, AfterValidator(_label_key)]
LabelValue = Annotated[str, AfterValidator(_label_value)]


def _some_labels(labels: dict[str, str]) -> dict[str, str]:
    if not labels:  # an empty selector would select every pod of the namespace
        raise ValueError("give at least one label, or leave it out for this Deployment's pods")
    return labels


PodLabels = Annotated[
    dict[LabelKey, LabelValue],
    Field(max_length=MAX_PLACEMENT_RULES),
    AfterValidator(_some_labels),
]


class PodAffinityTerm(Model):
    """One pod affinity or anti-affinity term: run (or not) in the same topology domain
    (`topology_key`: the same node, zone, ...) as the pods `match_labels` selects."""

    topology_key: LabelKey = Field(description="node label naming the domain, e.g. a node")
    match_labels: PodLabels | None = Field(
        None, description="the pods it is about; null: this Deployment's own pods"
    )
    required: bool = Field(
        False, description="true: a hard rule (required); false: a preference (preferred)"
    )
    weight: int | None = Field(
        None,
        ge=1,
        le=100,
        description=f"preferred terms only: 1-100, default {DEFAULT_AFFINITY_WEIGHT}",
    )

    @field_validator("weight")
    @classmethod
    def _weight_is_for_preferences(cls, weight: int | None, info: ValidationInfo) -> int | None:
        if weight is not None and info.data.get("required"):
            raise ValueError("a required term takes no weight: weight is for preferred terms")
        return weight

    @model_validator(mode="after")
    def _preferences_weigh(self) -> Self:
        if not self.required and self.weight is None:
            self.weight = DEFAULT_AFFINITY_WEIGHT
        return self


class TopologySpread(Model):
    """Spread the Deployment's pods over the domains of `topology_key` (nodes, zones):
    no domain more than `max_skew` pods ahead of the emptiest."""

    topology_key: LabelKey = Field(description="node label naming the domains")
    max_skew: int = Field(1, ge=1, le=1000)
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        "ScheduleAnyway",
        description="DoNotSchedule: a hard rule; ScheduleAnyway: a preference",
    )
    match_labels: PodLabels | None = Field(
        None, description="the pods counted; null: this Deployment's own pods"
    )


def _spread_over_nodes() -> list[TopologySpread]:
    return [TopologySpread(topology_key=HOSTNAME_TOPOLOGY)]


class Placement(Model):
    """Where the pods run: node labels they need, pod (anti-)affinity, topology spread.

    The default spreads the replicas over the nodes as a preference (a single-node cluster
    still runs them all); `topology_spread: []` turns that off.
    """

    node_selector: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_PLACEMENT_RULES,
        description="labels a node must have to run the pods",
    )
    pod_affinity: list[PodAffinityTerm] = Field(
        default_factory=list, max_length=MAX_PLACEMENT_RULES
    )
    pod_anti_affinity: list[PodAffinityTerm] = Field(
        default_factory=list, max_length=MAX_PLACEMENT_RULES
    )
    topology_spread: list[TopologySpread] = Field(
        default_factory=_spread_over_nodes, max_length=MAX_PLACEMENT_RULES
    )

    @field_validator("pod_anti_affinity")
    @classmethod
    def _not_both_required(
        cls, terms: list[PodAffinityTerm], info: ValidationInfo
    ) -> list[PodAffinityTerm]:
        attracting = {
            (term.topology_key, _labels_key(term.match_labels))
            for term in info.data.get("pod_affinity", [])
            if term.required
        }
        for term in terms:
            if term.required and (term.topology_key, _labels_key(term.match_labels)) in attracting:
                raise ValueError(
                    f"pod_affinity and pod_anti_affinity both require the same pods in the "
                    f"same '{term.topology_key}' domain: no second pod could ever be placed"
                )
        return terms

    @field_validator("topology_spread")
    @classmethod
    def _one_constraint_per_key(cls, spreads: list[TopologySpread]) -> list[TopologySpread]:
        seen: set[tuple[str, str]] = set()
        for spread in spreads:
            pair = (spread.topology_key, spread.when_unsatisfiable)
            if pair in seen:
                raise ValueError(
                    f"topology_key '{spread.topology_key}' with when_unsatisfiable "
                    f"'{spread.when_unsatisfiable}' is given twice (Kubernetes allows it once)"
                )
            seen.add(pair)
        return spreads


def _labels_key(labels: dict[str, str] | None) -> tuple[tuple[str, str], ...] | None:
    return None if labels is None else tuple(sorted(labels.items()))


class PodUsage(Model):
    name: str
    cpu: str = Field(description="CPU in use, millicores (e.g. `12m`)")
    memory: str = Field(description="memory in use, mebibytes (e.g. `34Mi`)")


class DeploymentUsage(Model):
    """What the Deployment's pods use now, from the cluster's metrics API (`metrics.k8s.io`:
    metrics-server on minikube, the simulated cluster's own)."""

    cpu: str = Field(description="CPU of all its pods, millicores (e.g. `25m`)")
    memory: str = Field(description="memory of all its pods, mebibytes (e.g. `70Mi`)")
    pods: list[PodUsage]
    observed_at: datetime = Field(
        description="when the metrics were sampled (the metrics API's window), so two reads "
        "within one window answer the same"
    )


class Deployment(Entity):
    """A Kubernetes Deployment Slipway rolls out, or one a Release rendered (`release_id`
    set: the release's chart owns its spec, and it changes only by upgrading the release)."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    cluster_id: str
    image_id: str | None = Field(None, description="the ContainerImage deployed")
    image: str | None = Field(None, description="the image reference (name:tag) deployed")
    chart_id: str | None = Field(None, description="a HelmChart that must be valid")
    release_id: str | None = Field(None, description="the Release that rendered it, if any")
    replicas: int = Field(ge=0)
    container_port: int | None = Field(
        None, ge=1, le=65535, description="unset only for a release's workload without ports"
    )
    resources: Resources = Field(default_factory=Resources)
    env: dict[str, str] = Field(default_factory=dict)
    probe: ProbeSettings = Field(default_factory=ProbeSettings)
    progress_deadline_seconds: int = Field(120, ge=10, le=3600)
    placement: Placement | None = Field(
        default_factory=Placement,
        description="where the pods run; null for a release's workload (its chart says)",
    )
    status: DeploymentStatus
    reason: str | None = None
    available_replicas: int = Field(0, ge=0, description="as the cluster last reported")
    ready_replicas: int = Field(0, ge=0)
    updated_replicas: int = Field(0, ge=0)
    rollout_id: str | None = Field(None, description="id of the current rollout")
    deadline: datetime | None = Field(None, description="a rollout still pending then fails")
    drift: str | None = Field(None, description="what changed in the cluster behind Slipway")
    usage: DeploymentUsage | None = Field(
        None,
        description="what its pods use now (GET of a running deployment; not stored, no "
        "event); null when the cluster serves no metrics API",
    )


class ServiceStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"


SERVICE_TRANSITIONS: Transitions = (
    (ServiceStatus.PENDING, ServiceStatus.ACTIVE),
    (ServiceStatus.PENDING, ServiceStatus.FAILED),
    # Endpoints vanish (cluster stopped, pods gone) and come back; a PUT re-applies.
    (ServiceStatus.ACTIVE, ServiceStatus.FAILED),
    (ServiceStatus.ACTIVE, ServiceStatus.PENDING),
    (ServiceStatus.FAILED, ServiceStatus.PENDING),
    (ServiceStatus.FAILED, ServiceStatus.ACTIVE),
)


class Service(Entity):
    """A Kubernetes Service in front of a Deployment, or one a Release rendered
    (`release_id` and `chart_id` set; `deployment_id` is the release's Deployment its
    selector picks, when there is one)."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    cluster_id: str
    deployment_id: str | None = None
    chart_id: str | None = Field(None, description="the chart of the Release that rendered it")
    release_id: str | None = Field(None, description="the Release that rendered it, if any")
    type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    port: int = Field(ge=1, le=65535)
    target_port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP", "UDP"] = "TCP"
    status: ServiceStatus
    reason: str | None = None
    cluster_ip: str | None = None
    node_port: int | None = None
    ingress: list[str] = Field(default_factory=list, description="LoadBalancer addresses")
    endpoints: list[str] = Field(default_factory=list, description="ready pod addresses")
    apply_id: str | None = Field(None, description="id of the current apply")
    deadline: datetime | None = Field(None, description="a service still pending then fails")
    drift: str | None = Field(None, description="what changed in the cluster behind Slipway")


# --- Release ----------------------------------------------------------------------


class ReleaseStatus(StrEnum):
    PENDING = "pending"
    DEPLOYED = "deployed"
    FAILED = "failed"
    UPDATING = "updating"
    UNINSTALLED = "uninstalled"


RELEASE_TRANSITIONS: Transitions = (
    (ReleaseStatus.PENDING, ReleaseStatus.DEPLOYED),
    (ReleaseStatus.PENDING, ReleaseStatus.FAILED),
    # An upgrade or a rollback.
    (ReleaseStatus.DEPLOYED, ReleaseStatus.UPDATING),
    (ReleaseStatus.FAILED, ReleaseStatus.UPDATING),
    (ReleaseStatus.UPDATING, ReleaseStatus.DEPLOYED),
    (ReleaseStatus.UPDATING, ReleaseStatus.FAILED),
    # Its workloads broke behind Slipway's back, or its cluster went away.
    (ReleaseStatus.DEPLOYED, ReleaseStatus.FAILED),
    (ReleaseStatus.PENDING, ReleaseStatus.UNINSTALLED),
    (ReleaseStatus.DEPLOYED, ReleaseStatus.UNINSTALLED),
    (ReleaseStatus.FAILED, ReleaseStatus.UNINSTALLED),
    (ReleaseStatus.UPDATING, ReleaseStatus.UNINSTALLED),
)

ValuesPath = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$",
        description="a dotted path into the chart's values, e.g. `backend.image`",
    ),
]


class ReleaseRevision(Model):
    """One helm revision of a release, as `helm history` lists it."""

    revision: int = Field(ge=1, description="helm's revision number")
    status: str = Field(description="helm's status of the revision: deployed, superseded, ...")
    updated_at: datetime
    chart_id: str
    chart_version: str | None = None
    app_version: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    images: dict[ValuesPath, str] = Field(default_factory=dict)
    description: str | None = None


class ReleaseWorkload(Model):
    """A Deployment or Service the release rendered, and the Slipway entity that tracks it."""

    kind: Literal["Deployment", "Service"]
    name: str
    entity_id: str


class Release(Entity):
    """One installation of a Helm chart onto a cluster, done by the real helm CLI."""

    name: DnsLabel
    namespace: DnsLabel = "default"
    cluster_id: str
    chart_id: str
    values: dict[str, Any] = Field(default_factory=dict)
    images: dict[ValuesPath, str] = Field(
        default_factory=dict, description="values path -> ContainerImage id set there"
    )
    timeout_seconds: int = Field(300, ge=10, le=3600, description="install or upgrade deadline")
    status: ReleaseStatus
    reason: str | None = None
    helm_revision: int | None = Field(None, ge=1, description="helm's current revision")
    history: list[ReleaseRevision] = Field(default_factory=list, description="oldest first")
    workloads: list[ReleaseWorkload] = Field(default_factory=list)
    operation_id: str | None = Field(None, description="id of the helm operation in flight")
    uninstalling: bool = Field(False, description="helm's uninstall is under way (after DELETE)")
    deadline: datetime | None = Field(None, description="an operation not done then fails")


# --- Alert -----------------------------------------------------------------------------


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


ALERT_TRANSITIONS: Transitions = (
    (AlertStatus.FIRING, AlertStatus.RESOLVED),
    (AlertStatus.RESOLVED, AlertStatus.FIRING),  # the same alert fires again
)
# The labels by which an alert names the Slipway entity it is about, in order of precedence.
ALERT_ENTITY_LABELS: tuple[tuple[str, str], ...] = (
    ("deployment_id", "deployment"),
    ("service_id", "service"),
    ("release_id", "release"),
    ("image_id", "container_image"),
    ("chart_id", "helm_chart"),
    ("cluster_id", "minikube_cluster"),
)


class Alert(Entity):
    """An alert Prometheus raised and Alertmanager delivered (`POST /api/alerts/webhook`):
    one entity per alert (Alertmanager's fingerprint of its labels), `firing` or
    `resolved`, linked to the Slipway entity its labels name (`target_kind`, `target_id`)."""

    status: AlertStatus
    name: str = Field(description="the rule's `alertname`")
    fingerprint: str = Field(description="Alertmanager's fingerprint of the alert's labels")
    severity: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = Field(None, description="when it resolved (resolved alerts)")
    generator_url: str | None = Field(None, description="the expression in Prometheus")
    target_kind: str | None = Field(None, description="the kind of the entity it is about")
    target_id: str | None = Field(None, description="the id of the entity it is about")
