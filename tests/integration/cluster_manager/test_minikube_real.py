"""The minikube driver against the real minikube CLI, when one is on PATH.

The probe test needs nothing but the binary. The lifecycle test starts a real cluster
(it pulls images and takes minutes), so it also needs SLIPWAY_MINIKUBE_LIFECYCLE=1 and
a working minikube driver (docker by default, SLIPWAY_MINIKUBE_DRIVER to change it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from slipway_cluster_manager.adapters.minikube import MinikubeDriver
from slipway_cluster_manager.domain.ports import ClusterSpec

MINIKUBE = shutil.which("minikube")

pytestmark = [
    pytest.mark.minikube,
    pytest.mark.asyncio,
    pytest.mark.skipif(MINIKUBE is None, reason="no minikube executable on PATH"),
]


def spec(tmp_path: Path, name: str) -> ClusterSpec:
    return ClusterSpec(
        name=name,
        driver="minikube",
        cpus=2,
        memory_mb=2200,
        disk_size_mb=10000,
        kubernetes_version=os.environ.get("SLIPWAY_MINIKUBE_K8S_VERSION", "v1.31.0"),
        state_dir=tmp_path / name,
        extra={"minikube_driver": os.environ.get("SLIPWAY_MINIKUBE_DRIVER", "docker")},
    )


async def test_real_minikube_reports_an_unknown_profile_as_stopped(tmp_path: Path) -> None:
    driver = MinikubeDriver(executable=str(MINIKUBE), minikube_home=tmp_path / "home")

    result = await driver.probe(spec(tmp_path, "slipway-never-started"))

    assert result.status == "stopped"


@pytest.mark.skipif(
    MINIKUBE is not None and os.environ.get("SLIPWAY_MINIKUBE_LIFECYCLE") != "1",
    reason="set SLIPWAY_MINIKUBE_LIFECYCLE=1 to start a real minikube cluster (slow)",
)
@pytest.mark.timeout(1800)
async def test_real_minikube_lifecycle(tmp_path: Path) -> None:
    driver = MinikubeDriver(executable=str(MINIKUBE))
    cluster = spec(tmp_path, "slipway-it")
    lines: list[str] = []

    async def progress(line: str) -> None:
        lines.append(line)

    try:
        await driver.start(cluster, progress)
        running = await driver.probe(cluster)
        kubeconfig = yaml.safe_load(await driver.kubeconfig(cluster))
        await driver.stop(cluster)
        stopped = await driver.probe(cluster)
    finally:
        await driver.delete(cluster)

    assert any("Done!" in line for line in lines)
    assert running.status == "running"
    assert kubeconfig["current-context"] == "slipway-it"
    assert stopped.status == "stopped"
    assert (await driver.probe(cluster)).status == "stopped"
