"""Fakes of the workload-manager's ports (WorkloadCluster, ClusterManager, Projections,
Leftovers, LoadedImages, Progress, Helm, ChartSource), the use cases' dependencies wired to
them (`world`), and builders of the entities and events its tests share."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import yaml

from slipway_contracts import subjects
from slipway_contracts.commands import (
    CreateDeployment,
    CreateService,
    DeploymentSpec,
    InstallRelease,
    ServiceSpec,
)
from slipway_contracts.jobs import ApplyServiceJob, ReleaseJob, RolloutJob
from slipway_libs.errors import NotFound, SlipwayError
from slipway_libs.unit_of_work import Message, Transaction, UnitOfWork
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.ports import (
    LABEL_ID,
    ChartArchive,
    ClusterAccess,
    ClusterRejected,
    ClusterUnreachable,
    HelmFailed,
    HelmRevision,
    HelmUnavailable,
    Leftover,
    Manifest,
    PodReport,
    RegistryPullLogin,
    RolloutObservation,
    ServiceObservation,
)
from slipway_workload_manager.domain.projections import (
    ProjectedChart,
    ProjectedCluster,
    ProjectedEvent,
    ProjectedImage,
    from_row,
    from_snapshot,
)
from slipway_workload_manager.domain.release import ReleaseAggregate
from slipway_workload_manager.domain.release_manifests import key_of, objects_of
from slipway_workload_manager.domain.workload import WorkloadAggregate
from slipway_workload_manager.handlers import jobs
from slipway_workload_manager.service_layer import (
    deployments,
    kube_services,
    projections,
    releases,
)
from slipway_workload_manager.service_layer.cluster_access import ClusterConnections
from slipway_workload_manager.service_layer.dependencies import Dependencies
from slipway_workload_manager.service_layer.scheduling import RELEASE_SUBJECT, ROLLOUT_SUBJECT
from slipway_workload_manager.settings import WorkloadManagerSettings
from tests.fakes import FakeDelivery, FakeProgress
from tests.memory import InMemoryRepository, InMemoryUnitOfWork

W = TypeVar("W", bound=WorkloadAggregate[Any])

IMAGE = ProjectedImage(id="img-1", status="built", name="shop/web", tag="1.0.0", digest="sha256:a")
CLUSTER = ProjectedCluster(id="cl-1", name="local", status="running", api_server="https://x")
CHART = ProjectedChart(id="ch-1", status="valid", name="web")


def deployment_spec(**overrides: Any) -> DeploymentSpec:
    fields: dict[str, Any] = {
        "name": "web",
        "cluster_id": CLUSTER.id,
        "image_id": IMAGE.id,
        "replicas": 3,
        "container_port": 8080,
    }
    return DeploymentSpec.model_validate({**fields, **overrides})


def service_spec(deployment_id: str, **overrides: Any) -> ServiceSpec:
    fields: dict[str, Any] = {
        "name": "web",
        "deployment_id": deployment_id,
        "port": 80,
        "target_port": 8080,
    }
    return ServiceSpec.model_validate({**fields, **overrides})


def event(
    entity: str, event_name: str, entity_id: str, version: int, /, **data: Any
) -> dict[str, Any]:
    """A CloudEvent as another service's outbox publishes it."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/slipway/test",
        "type": f"io.slipway.{entity}.{event_name}.v1",
        "subject": entity_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "entityversion": version,
        "correlationid": str(uuid.uuid4()),
        "causationid": None,
        "data": {"id": entity_id, "revision": version, **data},
    }


def image_event(
    status: str, version: int, image: ProjectedImage = IMAGE, **data: Any
) -> dict[str, Any]:
    """An image event named after its status (`built`, `failed`, ...)."""
    fields = {"name": image.name, "tag": image.tag, "status": status, "digest": image.digest}
    return event("container_image", status, image.id, version, **{**fields, **data})


def cluster_event(
    status: str, version: int, cluster: ProjectedCluster = CLUSTER, **data: Any
) -> dict[str, Any]:
    """A cluster event named after its status (`running`, `stopped`, `error`)."""
    fields = {"name": cluster.name, "status": status, "api_server": cluster.api_server}
    return event("minikube_cluster", status, cluster.id, version, **{**fields, **data})


@dataclass
class FakeClusterManager:
    """The cluster-manager: hands out a kubeconfig, loads images (or refuses to)."""

    kubeconfig_text: str = "apiVersion: v1\nkind: Config\n"
    loads: list[tuple[str, str]] = field(default_factory=list)
    load_error: str | None = None
    load_refusal: ClusterManagerRefused | None = None
    unavailable: bool = False
    kubeconfig_asks: int = 0

    async def kubeconfig(self, cluster_id: str) -> str:
        self.kubeconfig_asks += 1
        if self.unavailable:
            raise ClusterManagerUnavailable("no cluster-manager answers")
        return self.kubeconfig_text

    async def load_image(self, cluster_id: str, image: str) -> None:
        if self.unavailable:
            raise ClusterManagerUnavailable("no cluster-manager answers")
        if self.load_error:
            raise ClusterManagerRefused(self.load_error, "invalid")
        if self.load_refusal:
            raise self.load_refusal
        self.loads.append((cluster_id, image))


@dataclass
class FakeCluster:
    """A cluster API server in memory: applied objects and what it reports about them.

    A Deployment becomes available at once unless `rollouts` says otherwise (by name);
    a Service is active with one endpoint per available replica of its Deployment.
    `unreachable` makes every call fail as a down API server would, `rejection` every
    apply (of the kinds in `rejected_kinds`, when given) as a refusing one would.
    """

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    rollouts: dict[str, RolloutObservation] = field(default_factory=dict)
    unreachable: bool = False
    rejection: str | None = None
    rejected_kinds: set[str] | None = None
    hang_deletes: bool = False
    load_balancer_ingress: bool = False
    waits: int = 0
    reads: list[tuple[str, str, str]] = field(default_factory=list)
    # PodMetrics by (namespace, deployment id); None: the cluster serves no metrics API.
    pod_usage: dict[tuple[str, str], list[dict[str, Any]]] | None = None
    # Pods and their events by (namespace, deployment id), for diagnoses.
    pod_reports: dict[tuple[str, str], PodReport] = field(default_factory=dict)

    def _reach(self) -> None:
        if self.unreachable:
            raise ClusterUnreachable("connection refused")

    async def ensure_namespace(self, access: ClusterAccess, namespace: str) -> None:
        self._reach()
        self.namespaces.add(namespace)

    async def apply(self, access: ClusterAccess, manifest: Manifest) -> None:
        self._reach()
        refused = self.rejected_kinds is None or manifest["kind"] in self.rejected_kinds
        if self.rejection and refused:
            raise ClusterRejected(self.rejection)
        metadata = manifest["metadata"]
        key = (str(manifest["kind"]), metadata["namespace"], metadata["name"])
        self.objects[key] = dict(manifest)

    async def delete(self, access: ClusterAccess, kind: str, namespace: str, name: str) -> bool:
        self._reach()
        if self.hang_deletes:
            await asyncio.Event().wait()  # an API server that accepted the call and went quiet
        return self.objects.pop((kind, namespace, name), None) is not None

    def _rollout(self, namespace: str, name: str) -> RolloutObservation:
        live = self.objects.get(("Deployment", namespace, name))
        if live is None:
            return RolloutObservation(phase="missing")
        replicas = int(live["spec"]["replicas"])
        image = live["spec"]["template"]["spec"]["containers"][0]["image"]
        default = RolloutObservation(
            phase="available",
            desired=replicas,
            available=replicas,
            ready=replicas,
            updated=replicas,
        )
        found = self.rollouts.get(name, default)
        return RolloutObservation(
            **{**found.__dict__, "live_replicas": replicas, "live_image": image}
        )

    async def pod_metrics(
        self, access: ClusterAccess, namespace: str, deployment_id: str
    ) -> list[dict[str, Any]] | None:
        self._reach()
        if self.pod_usage is None:
            return None
        return self.pod_usage.get((namespace, deployment_id), [])

    async def namespace_pod_metrics(
        self, access: ClusterAccess, namespace: str
    ) -> dict[str, list[dict[str, Any]]] | None:
        self._reach()
        if self.pod_usage is None:
            return None
        return {i: pods for (space, i), pods in self.pod_usage.items() if space == namespace}

    async def pod_report(
        self, access: ClusterAccess, namespace: str, deployment_id: str
    ) -> PodReport:
        self._reach()
        return self.pod_reports.get((namespace, deployment_id), PodReport())

    async def observe_deployment(
        self, access: ClusterAccess, namespace: str, name: str
    ) -> RolloutObservation:
        self._reach()
        return self._rollout(namespace, name)

    async def wait_deployment(
        self,
        access: ClusterAccess,
        namespace: str,
        name: str,
        timeout_s: float,
        *,
        applying: Manifest | None = None,
    ) -> RolloutObservation:
        if applying is not None:
            await self.apply(access, applying)
        self._reach()
        self.waits += 1
        return self._rollout(namespace, name)

    async def observe_service(
        self, access: ClusterAccess, namespace: str, name: str
    ) -> ServiceObservation:
        self._reach()
        live = self.objects.get(("Service", namespace, name))
        if live is None:
            return ServiceObservation(phase="missing")
        port = live["spec"]["ports"][0]
        selector = live["spec"].get("selector") or {}
        backend = next(
            (
                obj
                for (kind, ns, _), obj in self.objects.items()
                if kind == "Deployment"
                and ns == namespace
                and selector
                and selector.items() <= obj["spec"]["template"]["metadata"]["labels"].items()
            ),
            None,
        )
        ready = self._rollout(namespace, backend["metadata"]["name"]).available if backend else 0
        endpoints = [
            f"10.244.0.{i + 1}:{port.get('targetPort', port['port'])}" for i in range(ready)
        ]
        ingress = ["127.0.0.1"] if self.load_balancer_ingress else []
        waiting_lb = live["spec"]["type"] == "LoadBalancer" and not ingress
        phase = "active" if endpoints and not waiting_lb else "pending"
        return ServiceObservation(
            phase=phase,
            cluster_ip="10.96.0.10",
            ingress=ingress,
            endpoints=endpoints,
            reason=None if phase == "active" else "no ready endpoints",
            live_port=int(port["port"]),
            live_target_port=port["targetPort"]
            if isinstance(port.get("targetPort"), int)
            else None,
        )

    async def managed(self, access: ClusterAccess, kind: str) -> dict[str, Manifest]:
        self._reach()
        found: dict[str, Manifest] = {}
        for (k, _, _), obj in self.objects.items():
            entity_id = (obj["metadata"].get("labels") or {}).get(LABEL_ID)
            if k == kind and entity_id:
                found[entity_id] = self._with_status(obj)
        return found

    async def read_object(
        self, access: ClusterAccess, api_version: str, kind: str, namespace: str, name: str
    ) -> Manifest | None:
        self._reach()
        self.reads.append((kind, namespace, name))
        live = self.objects.get((kind, namespace, name))
        return self._with_status(live) if live is not None else None

    def _with_status(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if obj["kind"] != "Deployment":
            return dict(obj)
        seen = self._rollout(obj["metadata"]["namespace"], obj["metadata"]["name"])
        conditions = []
        if seen.phase == "failed":
            conditions.append(
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
            )
        return {
            **obj,
            "metadata": {**obj["metadata"], "generation": 1},
            "status": {
                "observedGeneration": 1,
                "replicas": seen.desired,
                "availableReplicas": seen.available,
                "readyReplicas": seen.ready,
                "updatedReplicas": seen.updated,
                "conditions": conditions,
            },
        }


# --- the other ports ---------------------------------------------------------------


class InMemoryProjections:
    """The Projections port in a dict: newer versions only, a tombstone for a deletion.
    `owners` answers catch-up as the owning services' `query.get` would ((entity, id) ->
    snapshot); `caught_up` lists what was asked."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.owners: dict[tuple[str, str], dict[str, Any]] = {}
        self.caught_up: list[tuple[str, list[str]]] = []
        self.write_failures: list[Exception | None] = []  # what each next `apply_all` raises

    async def apply(self, event: ProjectedEvent) -> bool:
        key = (event.entity, event.entity_id)
        held = self.rows.get(key)
        if held is not None and held["entityversion"] >= event.entityversion:
            return False
        fields = {} if event.deletes else event.fields
        self.rows[key] = {
            "_id": event.entity_id,
            "entityversion": event.entityversion,
            "deleted": event.deletes,
            **fields,
        }
        return True

    async def apply_all(self, events: list[ProjectedEvent]) -> None:
        if self.write_failures and (error := self.write_failures.pop(0)) is not None:
            raise error
        for event in events:
            await self.apply(event)

    async def catch_up(self, entity: str, entity_ids: list[str]) -> bool:
        self.caught_up.append((entity, entity_ids))
        answers = [self.owners.get((entity, i)) for i in entity_ids]
        for snapshot in answers:
            if snapshot is not None:
                await self.apply(from_snapshot(entity, snapshot))
        return any(answers)

    def _row(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        row = self.rows.get((entity, entity_id))
        return None if row is None or row["deleted"] else row

    async def image(self, image_id: str) -> ProjectedImage | None:
        row = self._row(subjects.CONTAINER_IMAGE, image_id)
        return from_row(ProjectedImage, row) if row else None

    async def images_named(self, reference: str) -> list[ProjectedImage]:
        rows = [
            row
            for (entity, _), row in self.rows.items()
            if entity == subjects.CONTAINER_IMAGE
            and not row["deleted"]
            and row["reference"] == reference
        ]
        rows.sort(key=lambda row: -row["entityversion"])
        return [from_row(ProjectedImage, row) for row in rows]

    async def chart(self, chart_id: str) -> ProjectedChart | None:
        row = self._row(subjects.HELM_CHART, chart_id)
        return from_row(ProjectedChart, row) if row else None

    async def cluster(self, cluster_id: str) -> ProjectedCluster | None:
        row = self._row(subjects.MINIKUBE_CLUSTER, cluster_id)
        return from_row(ProjectedCluster, row) if row else None


class InMemoryLeftovers:
    """The Leftovers port in a dict (recorded at once: the tests do not roll back)."""

    def __init__(self) -> None:
        self.rows: dict[str, Leftover] = {}

    async def add(self, uow: UnitOfWork, leftover: Leftover) -> None:
        self.rows[leftover.entity_id] = leftover

    async def on_cluster(self, cluster_id: str) -> dict[str, Leftover]:
        return {i: row for i, row in self.rows.items() if row.cluster_id == cluster_id}

    async def clusters(self) -> set[str]:
        return {row.cluster_id for row in self.rows.values()}


class InMemoryLoadedImages:
    """The LoadedImages port in a set of (cluster, reference, digest)."""

    def __init__(self) -> None:
        self.rows: set[tuple[str, str, str | None]] = set()

    async def has(self, cluster_id: str, reference: str, digest: str | None) -> bool:
        return (cluster_id, reference, digest) in self.rows

    async def remember(self, cluster_id: str, reference: str, digest: str | None) -> None:
        self.rows.add((cluster_id, reference, digest))

    async def forget(self, cluster_id: str, reference: str) -> None:
        self.rows = {row for row in self.rows if row[:2] != (cluster_id, reference)}


# --- helm and the charts' files ---------------------------------------------------------

TODO_CHART = ChartArchive("ch-1", "todo", "0.1.0", "1.0.0", b"todo.tgz")
FRONTEND = ProjectedImage(id="img-fe", status="built", name="todo/frontend", tag="1.0.0")
BACKEND = ProjectedImage(id="img-be", status="built", name="todo/backend", tag="1.0.0")
BACKEND_2 = ProjectedImage(id="img-be2", status="built", name="todo/backend", tag="1.1.0")
TODO_DEFAULTS: dict[str, Any] = {
    "frontend": {"image": "todo/frontend:0.0.1", "replicas": 2, "port": 8080},
    "backend": {"image": "todo/backend:0.0.1", "replicas": 2, "port": 8080},
    "config": {"greeting": "hello"},
}


def _merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def todo_manifest(release: str, values: Mapping[str, Any]) -> str:
    """What the todo chart renders (as `helm template` prints it): a ConfigMap, a Secret,
    and a Deployment and a Service (selecting it by labels, a named target port) for each
    component present in the values."""
    merged = _merged(TODO_DEFAULTS, values)
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{release}-config"},
            "data": {"GREETING": merged["config"]["greeting"]},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{release}-secret"},
            "stringData": {"PASSWORD": "s3cret-value"},
        },
    ]
    for component in ("frontend", "backend"):
        part = merged.get(component)
        if not part:
            continue
        name = f"{release}-{component}"
        labels = {"app.kubernetes.io/instance": release, "app.kubernetes.io/component": component}
        container = {
            "name": component,
            "image": part["image"],
            "ports": [{"name": "http", "containerPort": part["port"], "protocol": "TCP"}],
        }
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "replicas": part["replicas"],
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [container]},
                    },
                },
            }
        )
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "type": "ClusterIP",
                    "selector": labels,
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            }
        )
    documents = [
        f"# Source: todo/templates/{o['kind'].lower()}.yaml\n" + yaml.safe_dump(o) for o in objects
    ]
    return "---\n" + "---\n".join(documents)


@dataclass
class FakeRelease:
    """What helm keeps of one release: its revisions (number, status, values, manifest)."""

    revisions: list[tuple[HelmRevision, dict[str, Any], str]] = field(default_factory=list)


@dataclass
class FakeHelm:
    """helm against a FakeCluster: the todo chart rendered from the values (`todo_manifest`),
    its objects applied to and removed from the cluster, revisions kept per release.
    `failure` makes the next change fail as helm would; `unavailable` every call as with an
    unreachable cluster."""

    cluster: FakeCluster
    releases: dict[tuple[str, str], FakeRelease] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    failure: str | None = None
    unavailable: bool = False

    def _check(self) -> None:
        if self.unavailable:
            raise HelmUnavailable("Kubernetes cluster unreachable: connection refused")
        if self.failure:
            failure, self.failure = self.failure, None
            raise HelmFailed(failure)

    def _apply(self, namespace: str, old: str, new: str) -> None:
        for obj in objects_of(old):
            self.cluster.objects.pop(key_of(obj, namespace), None)
        for obj in objects_of(new):
            obj["metadata"].setdefault("namespace", namespace)
            if "stringData" in obj:  # as an API server keeps a Secret
                values = obj.pop("stringData")
                obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
            self.cluster.objects[tuple(key_of(obj, namespace))] = obj  # type: ignore[index]

    def _record(
        self, namespace: str, release: str, values: dict[str, Any], manifest: str, description: str
    ) -> None:
        kept = self.releases.setdefault((namespace, release), FakeRelease())
        old = kept.revisions[-1][2] if kept.revisions else ""
        kept.revisions = [(replace(r, status="superseded"), v, m) for r, v, m in kept.revisions]
        revision = HelmRevision(
            revision=len(kept.revisions) + 1,
            status="deployed",
            updated=datetime.now(UTC),
            chart=f"{TODO_CHART.name}-{TODO_CHART.version}",
            app_version=TODO_CHART.app_version,
            description=description,
        )
        kept.revisions.append((revision, values, manifest))
        self._apply(namespace, old, manifest)

    async def upgrade_install(
        self,
        access: ClusterAccess,
        release: str,
        namespace: str,
        chart: bytes,
        values: Mapping[str, Any],
        timeout_s: float,
    ) -> None:
        self.calls.append(("upgrade", release, namespace, chart, dict(values)))
        self._check()
        first = (namespace, release) not in self.releases
        manifest = todo_manifest(release, values)
        self._record(
            namespace,
            release,
            dict(values),
            manifest,
            "Install complete" if first else "Upgrade complete",
        )

    async def rollback(
        self, access: ClusterAccess, release: str, namespace: str, revision: int, timeout_s: float
    ) -> None:
        self.calls.append(("rollback", release, namespace, revision))
        self._check()
        _, values, manifest = self.releases[(namespace, release)].revisions[revision - 1]
        self._record(namespace, release, values, manifest, f"Rollback to {revision}")

    async def uninstall(
        self, access: ClusterAccess, release: str, namespace: str, timeout_s: float
    ) -> bool:
        self.calls.append(("uninstall", release, namespace))
        self._check()
        kept = self.releases.pop((namespace, release), None)
        if kept is None:
            return False
        self._apply(namespace, kept.revisions[-1][2], "")
        return True

    async def history(
        self, access: ClusterAccess, release: str, namespace: str
    ) -> list[HelmRevision]:
        if self.unavailable:
            raise HelmUnavailable("Kubernetes cluster unreachable")
        kept = self.releases.get((namespace, release))
        return [r for r, _, _ in kept.revisions] if kept else []

    async def manifest(self, access: ClusterAccess, release: str, namespace: str) -> str | None:
        if self.unavailable:
            raise HelmUnavailable("Kubernetes cluster unreachable")
        kept = self.releases.get((namespace, release))
        return kept.revisions[-1][2] if kept else None

    async def template(
        self, release: str, namespace: str, chart: bytes, values: Mapping[str, Any]
    ) -> str:
        self.calls.append(("template", release, namespace, chart, dict(values)))
        self._check()
        return todo_manifest(release, values)


@dataclass
class FakeChartSource:
    """The chart-validator's `source` query: the charts it holds, or the error it answers."""

    charts: dict[str, ChartArchive] = field(
        default_factory=lambda: {TODO_CHART.chart_id: TODO_CHART}
    )
    error: SlipwayError | None = None
    asked: list[str] = field(default_factory=list)

    async def archive(self, chart_id: str) -> ChartArchive:
        self.asked.append(chart_id)
        if self.error is not None:
            raise self.error
        if chart_id not in self.charts:
            raise NotFound(f"helm_chart '{chart_id}' does not exist")
        return self.charts[chart_id]


@dataclass
class FakePullLogins:
    """The image-builder's `pull_secret` query: the registry logins of pushed images."""

    logins: dict[str, RegistryPullLogin] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def login(self, image_id: str) -> RegistryPullLogin | None:
        self.asked.append(image_id)
        return self.logins.get(image_id)


# --- the use cases' dependencies on the fakes ------------------------------------------


class InMemoryWorkloads(InMemoryRepository[W]):
    """Deployments or Kubernetes Services in memory, with the unique (cluster, namespace,
    name) of `adapters.mongo.NamedRepository`: a second entity of a taken name is refused
    at the write with the same Conflict (the use cases do not look the name up first)."""

    async def _write(self, tx: Transaction, item: W) -> None:
        state = item.state
        name = (state.cluster_id, state.namespace, state.name)
        if not item.deleted and any(
            other_id != item.id and (other.cluster_id, other.namespace, other.name) == name
            for other_id, other in self.rows.items()
        ):
            raise rules.name_taken(self.entity, state.namespace, state.name)
        await super()._write(tx, item)


@dataclass
class World:
    """The workload-manager's use cases on in-memory records and fake ports."""

    deps: Dependencies
    uow: InMemoryUnitOfWork
    deployments: InMemoryRepository[DeploymentAggregate]
    kube_services: InMemoryRepository[KubeServiceAggregate]
    projections: InMemoryProjections
    leftovers: InMemoryLeftovers
    loaded: InMemoryLoadedImages
    cluster: FakeCluster
    manager: FakeClusterManager
    deployment_progress: FakeProgress
    kube_service_progress: FakeProgress
    releases: InMemoryRepository[ReleaseAggregate]
    helm: FakeHelm
    charts: FakeChartSource
    release_progress: FakeProgress
    pull_logins: FakePullLogins
    done: set[str] = field(default_factory=set)

    def queued(self) -> list[Message]:
        """The jobs committed and not run yet, oldest first."""
        return [job for job in self.uow.jobs if job.msg_id not in self.done]

    async def run(self, job: Message, attempt: int = 1) -> FakeDelivery:
        """Run one committed job as its consumer would."""
        self.done.add(job.msg_id)
        return await run_job_message(self.deps, job.subject, job.payload, attempt)

    async def run_jobs(self) -> list[FakeDelivery]:
        """Run every committed job not run yet (and those they queue), in order."""
        deliveries = []
        while pending := self.queued():
            deliveries.append(await self.run(pending[0]))
        return deliveries


def new_world(**settings: Any) -> World:
    """Fresh dependencies: no records, nothing projected, an empty fake cluster."""
    config = WorkloadManagerSettings(
        **{"job_max_deliver": 3, "service_poll_interval_s": 0.01, **settings}
    )
    uow = InMemoryUnitOfWork()
    loaded = InMemoryLoadedImages()
    cluster, manager = FakeCluster(), FakeClusterManager()
    helm, charts = FakeHelm(cluster), FakeChartSource()
    pull_logins = FakePullLogins()
    deps = Dependencies(
        settings=config,
        uow=uow,
        deployments=InMemoryWorkloads(DeploymentAggregate, subjects.DEPLOYMENT),
        kube_services=InMemoryWorkloads(KubeServiceAggregate, subjects.SERVICE),
        projections=InMemoryProjections(),
        leftovers=InMemoryLeftovers(),
        cluster=cluster,
        connections=ClusterConnections(manager, loaded),
        deployment_progress=FakeProgress(),
        kube_service_progress=FakeProgress(),
        releases=InMemoryRepository(ReleaseAggregate, subjects.RELEASE),
        helm=helm,
        charts=charts,
        release_progress=FakeProgress(),
        pull_logins=pull_logins,
    )
    return World(
        deps,
        uow,
        deps.deployments,
        deps.kube_services,
        deps.projections,
        deps.leftovers,
        loaded,
        cluster,
        manager,
        deps.deployment_progress,
        deps.kube_service_progress,
        deps.releases,
        helm,
        charts,
        deps.release_progress,
        pull_logins,
    )


async def run_job_message(
    deps: Dependencies, subject: str, payload: dict[str, Any], attempt: int = 1
) -> FakeDelivery:
    """Hand one job of SLIPWAY_JOBS to its handler, as the durable consumer does."""
    delivery = FakeDelivery(attempt)
    if subject == ROLLOUT_SUBJECT:
        await jobs.rollout(RolloutJob(**payload), delivery, deps)
    elif subject == RELEASE_SUBJECT:
        await jobs.operate_release(ReleaseJob(**payload), delivery, deps)
    else:
        await jobs.apply(ApplyServiceJob(**payload), delivery, deps)
    return delivery


# --- steps the use-case tests share ------------------------------------------------------

SPEC: dict[str, Any] = {
    "name": "web",
    "cluster_id": CLUSTER.id,
    "image": IMAGE.reference,
    "replicas": 3,
    "container_port": 8080,
}


async def announce(world: World, *envelopes: dict[str, Any]) -> None:
    """Deliver events of the other services to the event intake, in order."""
    for envelope in envelopes:
        assert await projections.project_event(world.deps, envelope)


async def ready(world: World) -> None:
    """A running cluster and a built image, as their owners announced them."""
    await announce(world, cluster_event("running", 1), image_event("built", 2))


async def create_deployment(world: World, **overrides: Any) -> dict[str, Any]:
    """A Deployment accepted (its rollout queued, not run)."""
    command = CreateDeployment.model_validate({**SPEC, **overrides})
    reply = await deployments.create_deployment(world.deps, command)
    assert reply["ok"], reply
    return reply["data"]


async def running_deployment(world: World, **overrides: Any) -> dict[str, Any]:
    """A Deployment rolled out on a ready cluster."""
    await ready(world)
    created = await create_deployment(world, **overrides)
    await world.run_jobs()
    return created


async def create_service(world: World, deployment_id: str, **overrides: Any) -> dict[str, Any]:
    """A Kubernetes Service accepted in front of a Deployment (its apply queued, not run)."""
    fields = {"name": "web", "deployment_id": deployment_id, "port": 80, "target_port": 8080}
    command = CreateService.model_validate({**fields, **overrides})
    reply = await kube_services.create_service(world.deps, command)
    assert reply["ok"], reply
    return reply["data"]


def state_of(world: World, entity_id: str) -> Any:
    """The committed state of a Deployment or Kubernetes Service."""
    return world.deployments.rows.get(entity_id) or world.kube_services.rows[entity_id]


def outcome(world: World, entity_id: str) -> tuple[str, str | None]:
    """The committed status and reason of a Deployment or Kubernetes Service."""
    state = state_of(world, entity_id)
    return str(state.status), state.reason


# --- releases ---------------------------------------------------------------------------------


def chart_event(status: str, version: int, chart: ProjectedChart = CHART) -> dict[str, Any]:
    """A chart event named after its status (`valid`, `invalid`, ...)."""
    return event("helm_chart", status, chart.id, version, name=chart.name, status=status)


RELEASE_SPEC: dict[str, Any] = {
    "name": "todo",
    "namespace": "demo",
    "cluster_id": CLUSTER.id,
    "chart_id": CHART.id,
    "values": {"config": {"greeting": "hi"}},
    "images": {"frontend.image": FRONTEND.id, "backend.image": BACKEND.id},
}


async def release_ready(world: World) -> None:
    """A running cluster, a valid chart and the todo images built, as announced."""
    await announce(
        world,
        cluster_event("running", 1),
        chart_event("valid", 2),
        *(image_event("built", 3, image) for image in (FRONTEND, BACKEND, BACKEND_2)),
    )


async def install(world: World, **overrides: Any) -> dict[str, Any]:
    """A Release accepted (its install queued, not run)."""
    command = InstallRelease.model_validate({**RELEASE_SPEC, **overrides})
    reply = await releases.install_release(world.deps, command)
    assert reply["ok"], reply
    return reply["data"]


async def deployed_release(world: World, **overrides: Any) -> dict[str, Any]:
    """A Release installed on a ready cluster, its workloads available."""
    await release_ready(world)
    created = await install(world, **overrides)
    await world.run_jobs()
    return created


def release_of(world: World, release_id: str) -> Any:
    """The committed state of a Release."""
    return world.releases.rows[release_id]


def workloads_of(world: World, release_id: str) -> dict[str, Any]:
    """The committed Deployments and Services of a release, by `Kind/name`."""
    found: dict[str, Any] = {}
    for kind, rows in (
        ("Deployment", world.deployments.rows),
        ("Service", world.kube_services.rows),
    ):
        for state in rows.values():
            if state.release_id == release_id:
                found[f"{kind}/{state.name}"] = state
    return found
