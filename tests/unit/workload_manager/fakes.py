"""Fakes of the workload-manager's ports (WorkloadCluster, ClusterManager) and builders of
the entities and events its tests share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slipway_contracts.commands import DeploymentSpec, ServiceSpec
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)
from slipway_workload_manager.domain.ports import (
    LABEL_ID,
    ClusterAccess,
    ClusterUnreachable,
    Manifest,
    RolloutObservation,
    ServiceObservation,
)
from slipway_workload_manager.domain.projections import (
    ProjectedChart,
    ProjectedCluster,
    ProjectedImage,
)

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
    """

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    rollouts: dict[str, RolloutObservation] = field(default_factory=dict)
    unreachable: bool = False
    hang_deletes: bool = False
    load_balancer_ingress: bool = False
    waits: int = 0

    def _reach(self) -> None:
        if self.unreachable:
            raise ClusterUnreachable("connection refused")

    async def ensure_namespace(self, access: ClusterAccess, namespace: str) -> None:
        self._reach()
        self.namespaces.add(namespace)

    async def apply(self, access: ClusterAccess, manifest: Manifest) -> None:
        self._reach()
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

    async def observe_deployment(
        self, access: ClusterAccess, namespace: str, name: str
    ) -> RolloutObservation:
        self._reach()
        return self._rollout(namespace, name)

    async def wait_deployment(
        self, access: ClusterAccess, namespace: str, name: str, timeout_s: float
    ) -> RolloutObservation:
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
        backend = next(
            (
                obj
                for (kind, ns, _), obj in self.objects.items()
                if kind == "Deployment"
                and ns == namespace
                and obj["metadata"]["labels"][LABEL_ID] == live["spec"]["selector"][LABEL_ID]
            ),
            None,
        )
        ready = self._rollout(namespace, backend["metadata"]["name"]).available if backend else 0
        endpoints = [f"10.244.0.{i + 1}:{port['targetPort']}" for i in range(ready)]
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
            live_target_port=int(port["targetPort"]),
        )

    async def managed(self, access: ClusterAccess, kind: str) -> dict[str, Manifest]:
        self._reach()
        found: dict[str, Manifest] = {}
        for (k, _, _), obj in self.objects.items():
            if k == kind:
                found[obj["metadata"]["labels"][LABEL_ID]] = self._with_status(obj)
        return found

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


class FakeDelivery:
    """A JetStream message's acknowledgements, as a job sees them."""

    def __init__(self) -> None:
        self.acked = False
        self.nacked: list[float | None] = []

    async def ack(self) -> None:
        self.acked = True

    async def nack(self, delay: float | None = None) -> None:
        self.nacked.append(delay)

    async def in_progress(self) -> None:
        pass
