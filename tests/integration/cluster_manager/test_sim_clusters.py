"""`sim` clusters through the cluster-manager: a real simulated cluster process, driven
over NATS exactly as the gateway drives it, checked with kubectl and the official client."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.integration.cluster_manager.conftest import PROBE_INTERVAL_S, Bus, Manager
from tests.waiting import eventually

KUBECTL = shutil.which("kubectl")


async def kubeconfig_file(bus: Bus, cluster_id: str, path: Path) -> Path:
    reply = await bus.query("kubeconfig", {"id": cluster_id})
    assert reply["ok"], reply
    path.write_text(reply["data"]["kubeconfig"])
    return path


def namespaces(kubeconfig: Path) -> list[str]:
    """Namespace names, through the official Python client."""
    with k8s_config.new_client_from_config(config_file=str(kubeconfig)) as api:
        return [ns.metadata.name for ns in k8s.CoreV1Api(api).list_namespace().items]


def deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "registry.local/web:1.0.0"}]},
            },
        },
    }


async def started_sim(bus: Bus, name: str) -> dict[str, Any]:
    created = await bus.create(name=name, driver="sim", start=True)
    return await bus.wait_status(created["id"], "running")


async def test_a_started_sim_cluster_announces_itself_and_kubectl_and_the_client_work(
    bus: Bus, tmp_path: Path
) -> None:
    created = await bus.create(name="tour", driver="sim", start=True)
    assert (created["status"], created["operation"]["action"]) == ("stopped", "start")

    cluster = await bus.wait_status(created["id"], "running")

    assert cluster["api_server"].startswith("https://127.0.0.1:")
    events = await bus.events(cluster["id"])
    assert [name for name, _ in events if name != "updated"] == ["created", "running"]
    progress = [
        line
        for name, event in events
        if name == "updated"
        for line in event["data"]["operation"]["progress"]
    ]
    assert any(f"listening on {cluster['api_server']}" in line for line in progress), progress
    kubeconfig = await kubeconfig_file(bus, cluster["id"], tmp_path / "kubeconfig")
    assert "default" in await asyncio.to_thread(namespaces, kubeconfig)
    if KUBECTL is None:
        pytest.skip("kubectl is not installed; the Python client check passed")
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "ns"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "default" in result.stdout
    await bus.delete(cluster["id"])


async def test_stop_then_start_keeps_the_address_and_the_deployments(
    bus: Bus, tmp_path: Path
) -> None:
    cluster = await started_sim(bus, "keeper")
    kubeconfig = await kubeconfig_file(bus, cluster["id"], tmp_path / "kubeconfig")

    def create_deployment() -> None:
        with k8s_config.new_client_from_config(config_file=str(kubeconfig)) as api:
            k8s.AppsV1Api(api).create_namespaced_deployment("default", deployment("web"))

    await asyncio.to_thread(create_deployment)

    assert (await bus.command("stop", {"id": cluster["id"]}))["ok"]
    stopped = await bus.wait_status(cluster["id"], "stopped")
    assert stopped["api_server"] is None
    assert bus.manager.sim_pid("keeper") is None
    refused = await bus.query("kubeconfig", {"id": cluster["id"]})
    assert refused["error"]["code"] == "conflict"
    assert "cluster 'keeper' is stopped" in refused["error"]["message"]

    assert (await bus.command("start", {"id": cluster["id"]}))["ok"]
    restarted = await bus.wait_status(cluster["id"], "running")

    assert restarted["api_server"] == cluster["api_server"]

    def read_deployment() -> str:
        with k8s_config.new_client_from_config(config_file=str(kubeconfig)) as api:
            found = k8s.AppsV1Api(api).read_namespaced_deployment("web", "default")
            return str(found.metadata.name)

    assert await asyncio.to_thread(read_deployment) == "web"
    statuses = [name for name, _ in await bus.events(cluster["id"]) if name != "updated"]
    assert statuses == ["created", "running", "stopped", "running"]
    await bus.delete(cluster["id"])


async def test_a_killed_sim_process_turns_error_within_the_probe_interval_and_start_recovers(
    bus: Bus,
) -> None:
    cluster = await started_sim(bus, "fragile")
    pid = bus.manager.sim_pid("fragile")
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    failed = await bus.wait_status(cluster["id"], "error", timeout_s=10)
    noticed_after = time.monotonic() - killed_at

    # One probe round is the interval plus the probe itself; allow one round of slack.
    assert noticed_after < 3 * PROBE_INTERVAL_S + 1
    assert "not running" in failed["reason"]
    assert (await bus.events(cluster["id"]))[-1][0] == "error"

    assert (await bus.command("start", {"id": cluster["id"]}))["ok"]
    recovered = await bus.wait_status(cluster["id"], "running")
    assert recovered["reason"] is None
    assert bus.manager.sim_pid("fragile") not in (None, pid)
    await bus.delete(cluster["id"])


async def test_a_restart_stops_then_starts_the_cluster(bus: Bus) -> None:
    cluster = await started_sim(bus, "phoenix")
    first_pid = bus.manager.sim_pid("phoenix")

    reply = await bus.command("restart", {"id": cluster["id"]})
    assert reply["ok"] and reply["data"]["operation"]["action"] == "restart"
    await bus.wait_for(
        cluster["id"],
        lambda c: c["status"] == "running" and c["operation"] is None and c["revision"] > 4,
        what="restart finished",
    )

    assert bus.manager.sim_pid("phoenix") not in (None, first_pid)
    statuses = [name for name, _ in await bus.events(cluster["id"]) if name != "updated"]
    assert statuses == ["created", "running", "stopped", "running"]
    await bus.delete(cluster["id"])


async def test_deleting_a_running_sim_cluster_stops_it_and_removes_its_files(bus: Bus) -> None:
    cluster = await started_sim(bus, "doomed")
    assert bus.manager.sim_pid("doomed") is not None

    reply = await bus.command("delete", {"id": cluster["id"]})

    assert reply["ok"], reply
    assert reply["data"]["operation"]["action"] == "delete"
    await bus.wait_gone(cluster["id"])
    assert bus.manager.sim_pid("doomed") is None
    assert not bus.manager.cluster_dir("doomed").exists()
    assert (await bus.query("get", {"id": cluster["id"]}))["error"]["code"] == "not_found"
    assert (await bus.events(cluster["id"]))[-1][0] == "deleted"
    # The name is free again.
    again = await bus.create(name="doomed", driver="sim")
    await bus.delete(again["id"])


async def running_until(bus: Bus, cluster_id: str, moment: float) -> bool:
    """Whether `moment` has passed; fails at once if the cluster is not running."""
    assert (await bus.get(cluster_id))["status"] == "running"
    return time.monotonic() > moment


async def test_a_restarted_cluster_manager_adopts_its_running_clusters(
    start_manager: Any,
) -> None:
    import nats

    manager: Manager = await asyncio.to_thread(start_manager)
    client = await nats.connect(manager.nats_url)
    try:
        bus = Bus(client, manager)
        cluster = await started_sim(bus, "survivor")
        pid = manager.sim_pid("survivor")

        await asyncio.to_thread(manager.stop_service)
        assert manager.sim_pid("survivor") == pid  # clusters outlive the service
        await asyncio.to_thread(manager.start)

        assert (await bus.get(cluster["id"]))["status"] == "running"
        refused = await bus.command("start", {"id": cluster["id"]})
        assert refused["error"]["code"] == "conflict"
        # Probe rounds of the new process find the adopted cluster healthy.
        rounds_over = time.monotonic() + 3 * PROBE_INTERVAL_S
        await eventually(
            functools.partial(running_until, bus, cluster["id"], rounds_over),
            interval_s=0.2,
            what="three probe rounds over, the cluster running throughout",
        )

        assert (await bus.command("stop", {"id": cluster["id"]}))["ok"]
        await bus.wait_status(cluster["id"], "stopped")
        assert manager.sim_pid("survivor") is None
        assert (await bus.command("start", {"id": cluster["id"]}))["ok"]
        await bus.wait_status(cluster["id"], "running")
        assert manager.sim_pid("survivor") not in (None, pid)
        await bus.delete(cluster["id"])
    finally:
        await client.close()
