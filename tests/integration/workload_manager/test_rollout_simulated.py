"""Rollouts against a real simulated cluster through the official `kubernetes` client
(the real adapter), with a stand-in for the cluster-manager's kubeconfig and image load."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from slipway_contracts.commands import (
    CreateDeployment,
    CreateService,
    DeleteDeployment,
    DeploymentSpec,
    ScaleDeployment,
    UpdateDeployment,
)
from slipway_workload_manager.adapters.kubernetes import KubernetesWorkloads
from slipway_workload_manager.service_layer import deployments, kube_services, reconciliation
from tests.integration.workload_manager.workloads import (
    JobRunner,
    Parts,
    SimCluster,
    SimClusterManager,
    build_parts,
    drop,
    seed,
)
from tests.stack import Stack
from tests.unit.workload_manager.fakes import CLUSTER, IMAGE, cluster_event, image_event
from tests.waiting import eventually

# The shared fixtures (world, sim_cluster) live in a module of their own.
pytest_plugins = ["tests.integration.workload_manager.fixtures"]

pytestmark = pytest.mark.slow


@dataclass
class SimWorld:
    parts: Parts
    sim: SimCluster
    manager: SimClusterManager
    jobs: JobRunner
    namespace: str

    def apps(self) -> k8s.AppsV1Api:
        return self.sim.apps()

    async def create(self, **overrides: Any) -> dict[str, Any]:
        spec = {
            "name": "web",
            "namespace": self.namespace,
            "cluster_id": CLUSTER.id,
            "image": IMAGE.reference,
            "replicas": 3,
            "container_port": 8080,
            **overrides,
        }
        reply = await deployments.create_deployment(self.parts.deps, CreateDeployment(**spec))
        return reply["data"]

    async def update(self, deployment_id: str, **changes: Any) -> dict[str, Any]:
        current = await self.state(deployment_id)
        spec = {
            "id": deployment_id,
            **current.model_dump(include=set(DeploymentSpec.model_fields)),
            **changes,
        }
        reply = await deployments.update_deployment(
            self.parts.deps, UpdateDeployment.model_validate(spec)
        )
        return reply["data"]

    async def state(self, deployment_id: str) -> Any:
        return (await self.parts.deployments.get(deployment_id)).state


@pytest.fixture
async def sim_world(stack: Stack, sim_cluster: SimCluster) -> AsyncIterator[SimWorld]:
    cluster = KubernetesWorkloads()
    manager = SimClusterManager(sim_cluster)
    parts = await build_parts(stack.mongodb_uri, cluster, manager)
    server = yaml.safe_load(sim_cluster.kubeconfig)["clusters"][0]["cluster"]["server"]
    await seed(parts, cluster_event("running", 1, api_server=server), image_event("built", 1))
    yield SimWorld(parts, sim_cluster, manager, JobRunner(parts), f"wm-{uuid.uuid4().hex[:8]}")
    cluster.close()
    await drop(parts)


async def test_a_deployment_goes_pending_then_running_with_the_security_defaults(sim_world):
    created = await sim_world.create()
    assert created["status"] == "pending"
    await sim_world.jobs.run()
    state = await sim_world.state(created["id"])
    assert (state.status, state.available_replicas, state.reason) == ("running", 3, None)
    assert sim_world.manager.loads == [IMAGE.reference]
    live = sim_world.apps().read_namespaced_deployment("web", sim_world.namespace)
    assert live.status.available_replicas == 3
    pod = live.spec.template.spec
    container = pod.containers[0]
    assert pod.security_context.run_as_non_root is True
    assert container.security_context.allow_privilege_escalation is False
    assert container.resources.limits == {"cpu": "500m", "memory": "128Mi"}
    assert container.liveness_probe.tcp_socket.port == 8080
    assert container.readiness_probe is not None


async def test_a_rollout_secures_its_namespace_pods_and_network_and_a_delete_cleans_up(sim_world):
    namespace = sim_world.namespace  # does not exist yet: Slipway creates it
    created = await sim_world.create(replicas=1, container_port=9000)
    await sim_world.jobs.run()
    assert (await sim_world.state(created["id"])).status == "running"
    core, networking = sim_world.sim.core(), sim_world.sim.networking()
    labels = core.read_namespace(namespace).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/enforce-version"] == "latest"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    account = core.read_namespaced_service_account("web-sa", namespace)
    assert account.automount_service_account_token is False
    pod = sim_world.apps().read_namespaced_deployment("web", namespace).spec.template.spec
    assert pod.service_account_name == "web-sa"
    assert pod.automount_service_account_token is False
    policy = networking.read_namespaced_network_policy("web", namespace).spec
    assert policy.pod_selector.match_labels == {"slipway.io/id": created["id"]}
    assert policy.policy_types == ["Ingress"]
    [rule] = policy.ingress
    assert [(port.protocol, port.port) for port in rule.ports] == [("TCP", 9000), ("UDP", 9000)]
    assert [peer.pod_selector.to_dict() for peer in rule._from] == [
        {"match_expressions": None, "match_labels": None}
    ]

    await sim_world.update(created["id"], container_port=9090)
    await sim_world.jobs.run()
    [rule] = networking.read_namespaced_network_policy("web", namespace).spec.ingress
    assert {port.port for port in rule.ports} == {9090}

    reply = await deployments.delete_deployment(
        sim_world.parts.deps, DeleteDeployment(id=created["id"])
    )
    assert reply["data"]["reason"] is None
    assert not networking.list_namespaced_network_policy(namespace).items
    assert [a.metadata.name for a in core.list_namespaced_service_account(namespace).items] == [
        "default"
    ]


async def test_a_namespace_slipway_did_not_create_keeps_its_labels(sim_world):
    core = sim_world.sim.core()
    core.create_namespace({"metadata": {"name": sim_world.namespace, "labels": {"team": "a"}}})
    created = await sim_world.create(replicas=1)
    await sim_world.jobs.run()
    assert (await sim_world.state(created["id"])).status == "running"
    labels = core.read_namespace(sim_world.namespace).metadata.labels
    assert not any(key.startswith("pod-security.kubernetes.io/") for key in labels)
    assert labels["team"] == "a"
    policy = sim_world.sim.networking().read_namespaced_network_policy("web", sim_world.namespace)
    assert policy.metadata.labels["slipway.io/id"] == created["id"]


async def test_an_image_gone_from_the_engine_fails_with_the_load_error(sim_world):
    sim_world.manager.absent.add(IMAGE.reference)
    created = await sim_world.create()
    await sim_world.jobs.run()
    state = await sim_world.state(created["id"])
    assert state.status == "failed"
    assert state.reason.startswith("image load failed: docker save shop/web:1.0.0")


async def test_an_image_the_cluster_cannot_pull_fails_within_the_progress_deadline(sim_world):
    # Slipway believes the image was handed over already; the cluster does not have it.
    missing = "shop/ghost:1.0.0"
    ghost = replace(IMAGE, id="img-ghost", name="shop/ghost")
    await seed(sim_world.parts, image_event("built", 1, image=ghost))
    await sim_world.parts.connections.loaded.remember(CLUSTER.id, missing, IMAGE.digest)
    started = time.monotonic()
    created = await sim_world.create(image=missing, progress_deadline_seconds=10)
    await sim_world.jobs.run()
    state = await sim_world.state(created["id"])
    assert state.status == "failed"
    assert state.reason.startswith("ProgressDeadlineExceeded")
    assert "ErrImagePull" in state.reason or "ImagePullBackOff" in state.reason
    assert time.monotonic() - started < 10 + sim_world.parts.settings.rollout_deadline_margin_s


async def test_scaling_to_five_goes_updating_then_running_with_five(sim_world):
    created = await sim_world.create()
    await sim_world.jobs.run()
    reply = await deployments.scale_deployment(
        sim_world.parts.deps, ScaleDeployment(id=created["id"], replicas=5)
    )
    assert reply["data"]["status"] == "updating"
    await sim_world.jobs.run()
    state = await sim_world.state(created["id"])
    assert (state.status, state.available_replicas) == ("running", 5)
    live = sim_world.apps().read_namespaced_deployment("web", sim_world.namespace)
    assert live.status.available_replicas == 5


async def test_a_cluster_ip_service_is_active_with_the_pods_as_endpoints(sim_world):
    created = await sim_world.create(replicas=2)
    await sim_world.jobs.run()
    reply = await kube_services.create_service(
        sim_world.parts.deps,
        CreateService(
            name="web",
            namespace=sim_world.namespace,
            deployment_id=created["id"],
            port=80,
            target_port=8080,
        ),
    )
    await sim_world.jobs.run()
    service = (await sim_world.parts.kube_services.get(reply["data"]["id"])).state
    assert service.status == "active"
    assert len(service.endpoints) == 2 and service.cluster_ip


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_deleting_the_deployment_is_reported_as_drift(sim_world):
    created = await sim_world.create(replicas=1)
    await sim_world.jobs.run()
    kubeconfig = str(sim_world.sim.kubeconfig_path)
    deleted = await asyncio.to_thread(
        subprocess.run,
        [
            "kubectl",
            "--kubeconfig",
            kubeconfig,
            "-n",
            sim_world.namespace,
            "delete",
            "deployment",
            "web",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert deleted.returncode == 0, deleted.stderr

    async def drifted() -> Any:
        await reconciliation.reconcile(sim_world.parts.deps)
        state = await sim_world.state(created["id"])
        return state if state.drift else None

    state = await eventually(drifted, timeout_s=30, what="drift reported")
    assert state.drift == f"Deployment {sim_world.namespace}/web was deleted outside Slipway"
    assert state.status == "failed"
