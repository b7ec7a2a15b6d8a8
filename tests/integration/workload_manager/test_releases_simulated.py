"""Releases with the real helm CLI against a real simulated cluster (the real Kubernetes
and helm adapters, MongoDB), with stand-ins for the cluster-manager (kubeconfig, image load)
and the chart-validator (the todo example chart, packed as it packs charts)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from slipway_contracts.commands import (
    InstallRelease,
    RollbackRelease,
    UninstallRelease,
    UpgradeRelease,
)
from slipway_contracts.queries import PreviewRelease, ReleaseManifest
from slipway_workload_manager.adapters.kubernetes import KubernetesWorkloads
from slipway_workload_manager.service_layer import releases
from tests.integration.workload_manager.workloads import (
    DirectoryCharts,
    JobRunner,
    Parts,
    SimCluster,
    SimClusterManager,
    build_parts,
    drop,
    seed,
)
from tests.stack import Stack
from tests.unit.workload_manager.fakes import (
    BACKEND,
    BACKEND_2,
    CHART,
    CLUSTER,
    FRONTEND,
    chart_event,
    cluster_event,
    image_event,
)

pytest_plugins = ["tests.integration.workload_manager.fixtures"]

pytestmark = pytest.mark.slow

TODO_CHART = Path(__file__).resolve().parents[3] / "examples" / "charts" / "todo"
IMAGES = {"frontend.image": FRONTEND.id, "backend.image": BACKEND.id}


@dataclass
class ReleaseWorld:
    parts: Parts
    sim: SimCluster
    manager: SimClusterManager
    jobs: JobRunner
    namespace: str

    def apps(self) -> k8s.AppsV1Api:
        return self.sim.apps()

    def live_image(self, name: str) -> str:
        live = self.apps().read_namespaced_deployment(name, self.namespace)
        return str(live.spec.template.spec.containers[0].image)

    def spec(self, **overrides: Any) -> dict[str, Any]:
        return {
            "name": "todo",
            "namespace": self.namespace,
            "cluster_id": CLUSTER.id,
            "chart_id": CHART.id,
            "images": IMAGES,
            "timeout_seconds": 60,
            **overrides,
        }

    async def install(self, **overrides: Any) -> dict[str, Any]:
        reply = await releases.install_release(
            self.parts.deps, InstallRelease(**self.spec(**overrides))
        )
        assert reply["ok"], reply
        return reply["data"]

    async def settle(self, release_id: str) -> Any:
        """Run the queued jobs (as the consumer would); the release as they left it."""
        await self.jobs.run()
        return (await self.parts.releases.get(release_id)).state

    async def workloads(self, release_id: str) -> dict[str, Any]:
        found = {}
        for kind, repository in (
            ("Deployment", self.parts.deployments),
            ("Service", self.parts.kube_services),
        ):
            for item in await repository.matching(release_id=release_id):
                found[f"{kind}/{item.state.name}"] = item.state
        return found

    def helm(self, *args: str) -> str:
        """The helm CLI as a user would run it with the cluster's kubeconfig."""
        helm = Path(sys.executable).parent / "helm"
        kubeconfig = str(self.sim.kubeconfig_path)
        done = subprocess.run(
            [str(helm), *args, "--namespace", self.namespace, "--kubeconfig", kubeconfig],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
async def world(stack: Stack, sim_cluster: SimCluster) -> AsyncIterator[ReleaseWorld]:
    cluster = KubernetesWorkloads()
    manager = SimClusterManager(sim_cluster)
    parts = await build_parts(
        stack.mongodb_uri,
        cluster,
        manager,
        charts=DirectoryCharts({CHART.id: TODO_CHART}),
        release_deadline_margin_s=5,
    )
    server = yaml.safe_load(sim_cluster.kubeconfig)["clusters"][0]["cluster"]["server"]
    await seed(
        parts,
        cluster_event("running", 1, api_server=server),
        chart_event("valid", 1),
        *(image_event("built", 1, image) for image in (FRONTEND, BACKEND, BACKEND_2)),
    )
    namespace = f"r-{uuid.uuid4().hex[:8]}"
    yield ReleaseWorld(parts, sim_cluster, manager, JobRunner(parts), namespace)
    cluster.close()
    await drop(parts)


async def test_install_upgrade_rollback_with_helm_and_the_workloads_tracked(world):
    started = time.monotonic()
    created = await world.install()
    release = await world.settle(created["id"])
    install_s = time.monotonic() - started
    assert (release.status, release.reason, release.helm_revision) == ("deployed", None, 1)
    print(f"\nrelease install to deployed: {install_s:.2f} s")
    assert "STATUS: deployed" in world.helm("status", "todo")
    assert sorted(world.manager.loads) == [BACKEND.reference, FRONTEND.reference]
    workloads = await world.workloads(created["id"])
    assert {name: w.status for name, w in workloads.items()} == {
        "Deployment/todo-frontend": "running",
        "Deployment/todo-backend": "running",
        "Service/todo-frontend": "active",
        "Service/todo-backend": "active",
    }
    backend = workloads["Deployment/todo-backend"]
    assert (backend.image_id, backend.available_replicas, backend.chart_id) == (
        BACKEND.id,
        2,
        CHART.id,
    )
    service = workloads["Service/todo-frontend"]
    assert (service.port, service.target_port) == (80, 8080)
    assert service.deployment_id == workloads["Deployment/todo-frontend"].id and service.endpoints

    upgrade = UpgradeRelease(
        **world.spec(images={**IMAGES, "backend.image": BACKEND_2.id}), id=created["id"]
    )
    assert (await releases.upgrade_release(world.parts.deps, upgrade))["ok"]
    release = await world.settle(created["id"])
    assert (release.status, release.helm_revision) == ("deployed", 2)
    assert world.live_image("todo-backend") == BACKEND_2.reference

    rollback = RollbackRelease(id=created["id"], revision=1)
    assert (await releases.rollback_release(world.parts.deps, rollback))["ok"]
    release = await world.settle(created["id"])
    assert (release.status, release.helm_revision) == ("deployed", 3)
    assert world.live_image("todo-backend") == BACKEND.reference
    assert [(h.revision, h.status, h.description) for h in release.history] == [
        (1, "superseded", "Install complete"),
        (2, "superseded", "Upgrade complete"),
        (3, "deployed", "Rollback to 1"),
    ]
    assert release.history[2].images == IMAGES

    manifest = await releases.release_manifest(world.parts.deps, ReleaseManifest(id=created["id"]))
    text = manifest["data"]["manifest"]
    assert "name: todo-backend" in text and "change-me" not in text

    uninstall = UninstallRelease(id=created["id"])
    assert (await releases.uninstall_release(world.parts.deps, uninstall))["ok"]
    release = await world.settle(created["id"])
    assert release.status == "uninstalled"
    assert await world.workloads(created["id"]) == {}
    assert world.apps().list_namespaced_deployment(world.namespace).items == []


async def test_a_preview_diffs_against_the_live_objects_and_changes_nothing(world):
    created = await world.install()
    assert (await world.settle(created["id"])).status == "deployed"
    same = await releases.preview_release(
        world.parts.deps, PreviewRelease(id=created["id"], spec=world.spec())
    )
    assert same["data"]["changes"] == [], same["data"]["diff"]
    spec = world.spec(images={**IMAGES, "backend.image": BACKEND_2.id})
    reply = await releases.preview_release(
        world.parts.deps, PreviewRelease(id=created["id"], spec=spec)
    )
    preview = reply["data"]
    assert preview["changes"] == ["Deployment/todo-backend: changed"], preview["diff"]
    assert re.search(r"(?m)^\+\s+(- )?image: todo/backend:1\.1\.0$", preview["diff"])
    assert re.search(r"(?m)^-\s+(- )?image: todo/backend:1\.0\.0$", preview["diff"])
    assert "change-me" not in preview["manifest"] + preview["diff"]
    assert world.live_image("todo-backend") == BACKEND.reference
    assert len(world.helm("history", "todo", "-o", "json").split('"revision"')) == 2


async def test_an_image_missing_from_the_engine_fails_the_release_with_the_load_reason(world):
    world.manager.absent.add(BACKEND.reference)
    created = await world.install()
    release = await world.settle(created["id"])
    assert release.status == "failed"
    assert release.reason == (
        f"image load failed: docker save {BACKEND.reference}: Error response from daemon: "
        f"No such image: {BACKEND.reference}"
    )


async def test_an_image_the_cluster_cannot_pull_fails_the_release_at_its_deadline(world):
    # Only the frontend is handed over: the chart's default backend image is nowhere.
    started = time.monotonic()
    created = await world.install(
        images={"frontend.image": FRONTEND.id},
        values={"backend": {"image": "todo/never-built:1.0.0"}},
        timeout_seconds=10,
    )
    release = await world.settle(created["id"])
    assert release.status == "failed"
    assert "Deployment " + world.namespace + "/todo-backend" in (release.reason or "")
    assert "ErrImagePull" in (release.reason or "") or "ImagePullBackOff" in (release.reason or "")
    assert time.monotonic() - started < 10 + 5 + 10
    workloads = await world.workloads(created["id"])
    assert workloads["Deployment/todo-backend"].status == "failed"
    assert workloads["Deployment/todo-frontend"].status == "running"
