"""The real helm installs Slipway's own chart into a simulated cluster, validation on:
install, status, upgrade, rollback, uninstall and --wait, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from tests.helpers import image_archive
from tests.integration.simcluster.conftest import (
    RunningCluster,
    helm,
    kubectl,
    needs_helm,
    needs_kubectl,
)

pytestmark = [needs_helm, needs_kubectl]
CHART = Path(__file__).resolve().parents[3] / "charts" / "slipway"
SERVICES = ["gateway", "image-builder", "chart-validator", "cluster-manager", "workload-manager"]


@pytest.fixture(scope="module", autouse=True)
def slipway_images(cluster: RunningCluster) -> None:
    """The chart's images, loaded as `minikube image load` would."""
    tags = [f"slipway/{service}:0.1.0" for service in SERVICES]
    asyncio.run(cluster.simulated.load_images(image_archive(*tags)))


def env_of(cluster: RunningCluster, tmp_path: Path, namespace: str) -> dict[str, str]:
    shown = kubectl(
        cluster,
        tmp_path,
        "get",
        "deployment",
        "slipway-image-builder",
        "-n",
        namespace,
        "-o",
        "json",
    )
    assert shown.returncode == 0, shown.stderr
    container = json.loads(shown.stdout)["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_install_with_validation_shows_the_chart_objects(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    namespace = f"chart-{uuid.uuid4().hex[:8]}"

    installed = helm(
        cluster, tmp_path, "install", "slipway", str(CHART), "-n", namespace, "--create-namespace"
    )
    status = helm(cluster, tmp_path, "status", "slipway", "-n", namespace)
    listed = kubectl(
        cluster, tmp_path, "get", "pdb,sa,secret,deploy", "-n", namespace, "-o", "name"
    )
    table = kubectl(cluster, tmp_path, "get", "pdb", "slipway-gateway", "-n", namespace)

    assert installed.returncode == 0, installed.stderr
    assert "STATUS: deployed" in status.stdout
    names = set(listed.stdout.split())
    assert {
        "poddisruptionbudget.policy/slipway-gateway",
        "serviceaccount/slipway",
        "secret/slipway-connections",
        "secret/sh.helm.release.v1.slipway.v1",
        "deployment.apps/slipway-gateway",
        "deployment.apps/slipway-workload-manager",
    } <= names
    assert table.stdout.split("\n")[0].split() == [
        "NAME",
        "MIN",
        "AVAILABLE",
        "MAX",
        "UNAVAILABLE",
        "ALLOWED",
        "DISRUPTIONS",
        "AGE",
    ]


def test_upgrade_rollback_and_uninstall(cluster: RunningCluster, tmp_path: Path) -> None:
    namespace = f"chart-{uuid.uuid4().hex[:8]}"
    release = ["slipway", str(CHART), "-n", namespace]
    installed = helm(
        cluster,
        tmp_path,
        "install",
        *release,
        "--create-namespace",
        "--set",
        "services.image-builder.env.FOO=bar",
    )
    assert installed.returncode == 0, installed.stderr
    assert env_of(cluster, tmp_path, namespace)["FOO"] == "bar"

    upgraded = helm(
        cluster, tmp_path, "upgrade", *release, "--reset-values", "--set", "logLevel=DEBUG"
    )
    after_upgrade = env_of(cluster, tmp_path, namespace)
    rolled_back = helm(cluster, tmp_path, "rollback", "slipway", "1", "-n", namespace)
    after_rollback = env_of(cluster, tmp_path, namespace)
    history = helm(cluster, tmp_path, "history", "slipway", "-n", namespace, "-o", "json")

    assert upgraded.returncode == 0, upgraded.stderr
    assert "FOO" not in after_upgrade, "a key the upgrade drops is removed"
    assert after_upgrade["SLIPWAY_LOG_LEVEL"] == "DEBUG"
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert after_rollback["FOO"] == "bar"
    assert after_rollback["SLIPWAY_LOG_LEVEL"] == "INFO"
    assert [(r["revision"], r["status"]) for r in json.loads(history.stdout)] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]

    uninstalled = helm(cluster, tmp_path, "uninstall", "slipway", "-n", namespace)
    left = kubectl(
        cluster, tmp_path, "get", "deploy,pdb,sa,secret,svc", "-n", namespace, "-o", "name"
    )

    assert uninstalled.returncode == 0, uninstalled.stderr
    assert left.stdout.split() == ["serviceaccount/default"]


def test_install_wait_finishes_once_deployments_are_available(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    namespace = f"chart-{uuid.uuid4().hex[:8]}"

    installed = helm(
        cluster, tmp_path, "install", "slipway", str(CHART), "-n", namespace,
        "--create-namespace", "--wait", "--timeout", "90s",
    )  # fmt: skip
    deployments = kubectl(cluster, tmp_path, "get", "deploy", "-n", namespace, "-o", "json")

    assert installed.returncode == 0, installed.stderr
    ready = {
        d["metadata"]["name"]: d["status"].get("availableReplicas")
        for d in json.loads(deployments.stdout)["items"]
    }
    assert ready == {f"slipway-{service}": 2 for service in SERVICES}
