"""The ports of the workload-manager's use cases; adapters implement them, unit tests use
fakes of the same protocols (tests/unit/workload_manager/fakes.py).

- `WorkloadCluster`: a cluster's API server (`adapters.kubernetes.KubernetesWorkloads`, the
  official `kubernetes` client). Every object Slipway applies carries the label `LABEL_ID`
  = the Slipway entity id, so `managed` finds them again, and `LABEL_MANAGED_BY` = `slipway`.
- `Projections`: what this service knows of images, charts and clusters, from their events
  (`adapters.projections`).
- `Leftovers` and `LoadedImages`: bookkeeping about clusters (`adapters.bookkeeping`).
- `Progress`: live progress lines of one entity type (`slipway_libs.progress`).
- `Helm`: the real helm CLI against a cluster (`adapters.helm.HelmCli`).
- `ChartSource`: a chart's files, from the chart-validator that stores them
  (`adapters.chart_source.NatsChartSource`).
The cluster-manager's port is in `domain.cluster_manager`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from slipway_libs.unit_of_work import UnitOfWork
from slipway_workload_manager.domain.projections import (
    ProjectedChart,
    ProjectedCluster,
    ProjectedEvent,
    ProjectedImage,
)

LABEL_ID = "slipway.io/id"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
MANAGED_BY = "slipway"

Manifest = Mapping[str, Any]
"""A Kubernetes object as JSON (apiVersion, kind, metadata, spec)."""

RolloutPhase = Literal["progressing", "available", "failed", "missing"]
ServicePhase = Literal["pending", "active", "failed", "missing"]


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one cluster's API server: its id and a self-contained kubeconfig."""

    cluster_id: str
    kubeconfig: str


@dataclass(frozen=True)
class RolloutObservation:
    """What the cluster says about one Deployment right now.

    `phase` is `available` when the observed generation is current and available
    replicas reach the desired count; `failed` with the cluster's own reason
    (`ProgressDeadlineExceeded`, or the image pull error from the pods' events);
    `missing` when the object does not exist.
    """

    phase: RolloutPhase
    desired: int = 0
    available: int = 0
    ready: int = 0
    updated: int = 0
    reason: str | None = None
    # Fields of the live object that differ from what Slipway applied (drift detection).
    live_replicas: int | None = None
    live_image: str | None = None


@dataclass(frozen=True)
class ServiceObservation:
    """What the cluster says about one Service: its address and ready endpoints."""

    phase: ServicePhase
    cluster_ip: str | None = None
    node_port: int | None = None
    ingress: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    reason: str | None = None
    live_port: int | None = None
    live_target_port: int | None = None


class ClusterUnreachable(Exception):
    """The API server did not answer (down, refused, timed out): try again later."""


class ClusterRejected(Exception):
    """The API server refused the request (4xx other than 404/409): `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WorkloadCluster(Protocol):
    """Apply, observe and remove Slipway's objects in one cluster.

    Calls are idempotent. They raise `ClusterUnreachable` when the cluster cannot be
    reached and `ClusterRejected` when it refuses a manifest.
    """

    async def ensure_namespace(self, access: ClusterAccess, namespace: str) -> None:
        """Create the namespace if it does not exist (`manifests.namespace_manifest`: Pod
        Security `restricted`); a namespace Slipway did not create is left as it is."""
        ...

    async def apply(self, access: ClusterAccess, manifest: Manifest) -> None:
        """Create or update the object (server-side apply, field manager `slipway`)."""
        ...

    async def delete(self, access: ClusterAccess, kind: str, namespace: str, name: str) -> bool:
        """Remove the object (foreground propagation); False when it was already gone."""
        ...

    async def observe_deployment(
        self, access: ClusterAccess, namespace: str, name: str
    ) -> RolloutObservation: ...

    async def wait_deployment(
        self,
        access: ClusterAccess,
        namespace: str,
        name: str,
        timeout_s: float,
        *,
        applying: Manifest | None = None,
    ) -> RolloutObservation:
        """Watch the Deployment until it is available or failed, or `timeout_s` passes
        (then the latest observation, `progressing`); `applying` (its manifest), apply it
        first as `apply` does and follow it from there."""
        ...

    async def observe_service(
        self, access: ClusterAccess, namespace: str, name: str
    ) -> ServiceObservation: ...

    async def managed(self, access: ClusterAccess, kind: str) -> dict[str, Manifest]:
        """Slipway's live objects of `kind` (Deployment, Service, NetworkPolicy or
        ServiceAccount) in all namespaces, by the value of their `LABEL_ID` label (a
        Deployment's ServiceAccount and NetworkPolicy carry the Deployment's id)."""
        ...

    async def read_object(
        self, access: ClusterAccess, api_version: str, kind: str, namespace: str, name: str
    ) -> Manifest | None:
        """Any live object as the API server returns it; None when it does not exist (or
        the cluster serves no such kind). `namespace` is ignored for cluster-wide kinds."""
        ...

    async def pod_metrics(
        self, access: ClusterAccess, namespace: str, deployment_id: str
    ) -> list[Manifest] | None:
        """The `metrics.k8s.io/v1beta1` PodMetrics of the Deployment's pods; None when the
        cluster serves no metrics API (minikube without the metrics-server addon)."""
        ...

    async def namespace_pod_metrics(
        self, access: ClusterAccess, namespace: str
    ) -> dict[str, list[Manifest]] | None:
        """The PodMetrics of every Slipway pod in the namespace, by the pods' `LABEL_ID`
        (one read for all of its Deployments); None when the cluster serves no metrics API."""
        ...

    async def pod_report(
        self, access: ClusterAccess, namespace: str, deployment_id: str
    ) -> PodReport:
        """The Deployment's pods (by their `LABEL_ID` label) and the events about them,
        for a diagnosis."""
        ...


@dataclass(frozen=True)
class PodReport:
    """A Deployment's pods as the API server returns them, and the events about them."""

    pods: list[Manifest] = field(default_factory=list)
    events: list[Manifest] = field(default_factory=list)


class Projections(Protocol):
    """The read models of the other services' entities (newer events only)."""

    async def apply(self, event: ProjectedEvent) -> bool:
        """Write the event's state if it is newer than the one held; True when it was."""
        ...

    async def apply_all(self, events: list[ProjectedEvent]) -> None:
        """Write each entity's newest state among `events` where it is newer than the one
        held, all at once; raises, having kept what it wrote, when a write fails."""
        ...

    async def catch_up(self, entity: str, entity_ids: list[str]) -> bool:
        """Ask the owners for these entities and apply what is newer; True when an owner
        answered (a refused check is then worth repeating)."""
        ...

    async def image(self, image_id: str) -> ProjectedImage | None: ...

    async def images_named(self, reference: str) -> list[ProjectedImage]:
        """Images whose `name:tag` is `reference`, newest first."""
        ...

    async def chart(self, chart_id: str) -> ProjectedChart | None: ...

    async def cluster(self, cluster_id: str) -> ProjectedCluster | None: ...


@dataclass(frozen=True)
class Leftover:
    """The object a deleted workload had in its cluster, removed whenever the cluster is
    seen running (a rollout racing the delete may re-create it; a stopped cluster returns)."""

    entity_id: str
    kind: str
    cluster_id: str
    namespace: str
    name: str


class Leftovers(Protocol):
    async def add(self, uow: UnitOfWork, leftover: Leftover) -> None:
        """Record a leftover in the open unit of work's transaction (the deleting one)."""
        ...

    async def on_cluster(self, cluster_id: str) -> dict[str, Leftover]:
        """The leftovers of a cluster, by entity id."""
        ...

    async def clusters(self) -> set[str]:
        """The clusters that have leftovers."""
        ...


class LoadedImages(Protocol):
    """Images handed to a cluster, by `name:tag` and digest: each is loaded once."""

    async def has(self, cluster_id: str, reference: str, digest: str | None) -> bool: ...

    async def remember(self, cluster_id: str, reference: str, digest: str | None) -> None: ...

    async def forget(self, cluster_id: str, reference: str) -> None: ...


class Progress(Protocol):
    """Live progress of one entity type; best effort, never raises."""

    async def publish(
        self, entity_id: str, lines: list[str], operation_id: str | None = None
    ) -> None: ...


# --- releases: helm and the charts' files -------------------------------------------


@dataclass(frozen=True)
class HelmRevision:
    """One line of `helm history -o json`."""

    revision: int
    status: str
    updated: datetime
    chart: str
    app_version: str | None = None
    description: str | None = None


class HelmFailed(Exception):
    """helm refused or failed (a bad chart, values it cannot render, objects the cluster
    rejects): `message` is helm's own error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HelmUnavailable(Exception):
    """helm could not do it now (the cluster unreachable, another helm operation on the
    release in progress, no answer in time): worth trying again."""


class Helm(Protocol):
    """The helm CLI. Calls on a release take the cluster's access; `template` renders
    offline. A chart is its `.tgz` as bytes; `values` are the values helm gets (`-f`)."""

    async def upgrade_install(
        self,
        access: ClusterAccess,
        release: str,
        namespace: str,
        chart: bytes,
        values: Mapping[str, Any],
        timeout_s: float,
    ) -> None:
        """`helm upgrade --install` (the namespace created if missing), without waiting."""
        ...

    async def rollback(
        self, access: ClusterAccess, release: str, namespace: str, revision: int, timeout_s: float
    ) -> None:
        """`helm rollback` to `revision` (a new revision with its chart and values)."""
        ...

    async def uninstall(
        self, access: ClusterAccess, release: str, namespace: str, timeout_s: float
    ) -> bool:
        """`helm uninstall`; False when helm knows no such release (already gone)."""
        ...

    async def history(
        self, access: ClusterAccess, release: str, namespace: str
    ) -> list[HelmRevision]:
        """`helm history`, oldest first (empty when helm knows no such release)."""
        ...

    async def manifest(self, access: ClusterAccess, release: str, namespace: str) -> str | None:
        """`helm get manifest` of the current revision; None when there is no release."""
        ...

    async def template(
        self, release: str, namespace: str, chart: bytes, values: Mapping[str, Any]
    ) -> str:
        """`helm template`: the manifest an install with these values would apply."""
        ...


@dataclass(frozen=True)
class ChartArchive:
    """A chart's files as a `.tgz` (its directory as the top folder), with its identity."""

    chart_id: str
    name: str
    version: str
    app_version: str | None
    data: bytes


class ChartSource(Protocol):
    """The charts' stored files, from the service that owns them. Raises
    `slipway_libs.errors.Unavailable` when it cannot answer now, and the error it
    answered with (NotFound, Conflict) otherwise."""

    async def archive(self, chart_id: str) -> ChartArchive: ...


@dataclass(frozen=True)
class RegistryPullLogin:
    """The basic-auth login a cluster pulls a pushed image with, for its registry host."""

    registry: str
    username: str
    password: str = field(repr=False)


class PullLogins(Protocol):
    """The registry logins of pushed images, from the service that keeps them sealed (the
    image-builder). Raises `slipway_libs.errors.Unavailable` when it cannot answer now."""

    async def login(self, image_id: str) -> RegistryPullLogin | None:
        """The image's login, None when it was pushed without one."""
        ...
