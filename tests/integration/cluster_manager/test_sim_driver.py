"""The `sim` driver on its own: real simulated cluster processes, no service around them."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
from pathlib import Path

import pytest
from slipway_simcluster import running_server_pid, stop_servers_under

from slipway_cluster_manager.adapters.sim_driver import SimDriver, read_access
from slipway_cluster_manager.domain.ports import ClusterDriver, ClusterSpec

pytestmark = pytest.mark.asyncio


def spec(state: Path, name: str) -> ClusterSpec:
    return ClusterSpec(
        name=name,
        driver="sim",
        cpus=1,
        memory_mb=1024,
        disk_size_mb=1024,
        kubernetes_version="v1.31.4",
        state_dir=state / "clusters" / name,
    )


async def ignore(line: str) -> None:
    return None


async def test_the_driver_satisfies_the_port() -> None:
    assert isinstance(SimDriver(), ClusterDriver)


async def test_a_second_driver_instance_adopts_the_running_process(tmp_path: Path) -> None:
    first, second = SimDriver(), SimDriver()  # e.g. before and after a service restart
    demo = spec(tmp_path, "demo")
    await first.start(demo, ignore)
    pid = running_server_pid(demo.state_dir)
    lines: list[str] = []

    async def keep(line: str) -> None:
        lines.append(line)

    await second.start(demo, keep)  # idempotent: no second process

    assert running_server_pid(demo.state_dir) == pid
    assert lines == [f"The simulated cluster 'demo' is already running (pid {pid})"]
    assert (await second.probe(demo)).status == "running"
    await second.stop(demo)
    assert running_server_pid(demo.state_dir) is None
    probe = await first.probe(demo)
    assert probe.status == "stopped"
    assert probe.reason == "the simulated cluster process is not running (it exited or was killed)"


class KilledWhileAsked(SimDriver):
    """Kills the cluster's process just after the probe saw it running (armed once)."""

    armed = False

    def running_pid(self, spec: ClusterSpec) -> int | None:
        pid = super().running_pid(spec)
        if self.armed and pid is not None:
            self.armed = False
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # gone, its port closed, before the probe asks its API server
        return pid


async def test_a_process_killed_while_its_probe_asks_is_reported_not_running(
    tmp_path: Path,
) -> None:
    driver, demo = KilledWhileAsked(), spec(tmp_path, "fragile")
    await driver.start(demo, ignore)
    driver.armed = True

    probe = await driver.probe(demo)

    # The cause, not the symptom (its API server no longer answering).
    assert probe.status == "stopped"
    assert probe.reason == "the simulated cluster process is not running (it exited or was killed)"
    await driver.delete(demo)


async def test_the_token_is_made_once_and_kept_owner_only(tmp_path: Path) -> None:
    driver, demo = SimDriver(), spec(tmp_path, "demo")
    await driver.start(demo, ignore)
    access = read_access(demo.state_dir / "kubeconfig")
    await driver.stop(demo)
    await driver.start(demo, ignore)

    again = read_access(demo.state_dir / "kubeconfig")
    token_file = demo.state_dir / "token"
    assert access is not None and again is not None
    assert again.token == access.token == token_file.read_text()
    assert again.server == access.server  # the port is kept across stop/start
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    await driver.delete(demo)
    assert not demo.state_dir.exists()


async def test_stop_all_stops_every_simulated_cluster_of_a_state_dir(tmp_path: Path) -> None:
    driver = SimDriver()
    clusters = [spec(tmp_path, name) for name in ("one", "two")]
    for cluster in clusters:
        await driver.start(cluster, ignore)

    stopped = stop_servers_under(tmp_path)

    assert stopped == ["one", "two"]
    assert all(running_server_pid(c.state_dir) is None for c in clusters)
    assert all((c.state_dir / "state.json").exists() for c in clusters)  # state was saved
    assert stop_servers_under(tmp_path) == []
    assert stop_servers_under(tmp_path / "no-such-dir") == []


async def test_a_stop_asked_again_while_the_state_is_saved_keeps_the_state(tmp_path: Path) -> None:
    """Whoever stops a cluster may send SIGTERM more than once (as `stop_servers_under`
    does); none of them cuts the save short."""
    cluster = spec(tmp_path, "again")
    await SimDriver().start(cluster, ignore)
    pid = running_server_pid(cluster.state_dir)
    assert pid is not None
    deadline = time.monotonic() + 15
    while running_server_pid(cluster.state_dir) == pid and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    assert running_server_pid(cluster.state_dir) is None
    assert (cluster.state_dir / "state.json").exists()  # state was saved
