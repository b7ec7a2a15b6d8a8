"""The minikube driver against the minikube stand-in (tests/fixtures/minikube-standin).

The stand-in reproduces minikube's documented commands, output and exit codes and
records every invocation, so these tests check the exact command lines the driver runs
and what it makes of minikube's answers.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway_cluster_manager.adapters.minikube import MinikubeDriver
from slipway_cluster_manager.domain.ports import (
    ClusterDriver,
    ClusterSpec,
    InvalidClusterSpec,
    PermanentDriverError,
    TemporaryDriverError,
)
from tests.helpers import image_archive, live_processes
from tests.waiting import eventually

pytestmark = pytest.mark.asyncio

STANDIN = Path(__file__).resolve().parents[2] / "fixtures" / "minikube-standin" / "minikube"


@dataclass
class StandIn:
    """A minikube stand-in home: drivers built from it share its profiles."""

    home: Path
    clusters: Path

    def driver(self, **env: str) -> MinikubeDriver:
        """A driver using the stand-in, with knobs (MINIKUBE_STANDIN_*) from `env`."""
        return MinikubeDriver(
            executable=str(STANDIN),
            minikube_home=self.home,
            extra_env={"MINIKUBE_STANDIN_HOST_CPUS": "4", **env},
        )

    def spec(self, name: str = "demo", **changes: object) -> ClusterSpec:
        values: dict[str, object] = {
            "name": name,
            "driver": "minikube",
            "cpus": 2,
            "memory_mb": 4096,
            "disk_size_mb": 20000,
            "kubernetes_version": "v1.30.2",
            "state_dir": self.clusters / name,
            "extra": {},
        }
        values.update(changes)
        return ClusterSpec(**values)  # type: ignore[arg-type]

    def invocations(self) -> list[list[str]]:
        log = self.home / "invocations.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def profile_state(self, name: str = "demo") -> dict[str, object]:
        path = self.home / ".minikube" / "profiles" / name / "standin-state.json"
        return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture
def standin(tmp_path: Path) -> StandIn:
    return StandIn(home=tmp_path / "minikube-home", clusters=tmp_path / "clusters")


START_ARGV = [
    "start", "-p", "demo", "--driver", "docker", "--cpus", "2", "--memory", "4096mb",
    "--disk-size", "20000mb", "--kubernetes-version", "v1.30.2", "--embed-certs",
    "--interactive=false",
]  # fmt: skip
DONE_LINE = (
    '🏄  Done! kubectl is now configured to use "demo" cluster and "default" namespace by default'
)


class ProgressLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, line: str) -> None:
        self.lines.append(line)


def standin_pids(home: Path) -> list[int]:
    """Live processes started with this stand-in home (found through /proc)."""
    return live_processes(f"MINIKUBE_HOME={home}".encode())


async def test_the_driver_satisfies_the_port(standin: StandIn) -> None:
    assert isinstance(standin.driver(), ClusterDriver)


async def test_start_runs_the_documented_command_and_streams_minikubes_lines(
    standin: StandIn,
) -> None:
    progress = ProgressLog()

    await standin.driver().start(standin.spec(), progress)

    assert standin.invocations() == [START_ARGV]
    assert progress.lines[0] == "😄  [demo] minikube v1.37.0 on Linux (minikube stand-in)"
    assert "🔥  Creating docker container (CPUs=2, Memory=4096MB) ..." in progress.lines
    assert progress.lines[-1] == DONE_LINE


async def test_a_started_cluster_probes_running(standin: StandIn) -> None:
    driver = standin.driver()
    await driver.start(standin.spec(), ProgressLog())

    result = await driver.probe(standin.spec())

    assert standin.invocations()[-1] == ["status", "-p", "demo", "-o", "json"]
    assert result.status == "running"
    assert result.reason is None
    assert result.components == {
        "Host": "Running", "Kubelet": "Running", "APIServer": "Running", "Kubeconfig": "Configured"
    }  # fmt: skip


async def test_stop_start_and_delete_run_the_documented_commands(standin: StandIn) -> None:
    driver, spec = standin.driver(), standin.spec()
    await driver.start(spec, ProgressLog())

    await driver.stop(spec)
    stopped = await driver.probe(spec)
    restart_progress = ProgressLog()
    await driver.start(spec, restart_progress)
    restarted = await driver.probe(spec)
    await driver.delete(spec)
    deleted = await driver.probe(spec)

    assert standin.invocations() == [
        START_ARGV,
        ["stop", "-p", "demo"],
        ["status", "-p", "demo", "-o", "json"],
        START_ARGV,
        ["status", "-p", "demo", "-o", "json"],
        ["delete", "-p", "demo"],
        ["status", "-p", "demo", "-o", "json"],
    ]
    assert (stopped.status, stopped.components["Host"]) == ("stopped", "Stopped")
    assert '🔄  Restarting existing docker container for "demo" ...' in restart_progress.lines
    assert restarted.status == "running"
    assert deleted.status == "stopped"
    assert deleted.reason == 'minikube has no profile "demo" (never started, or deleted)'


async def test_a_never_started_cluster_probes_stopped(standin: StandIn) -> None:
    result = await standin.driver().probe(standin.spec())

    assert result.status == "stopped"
    assert result.reason == 'minikube has no profile "demo" (never started, or deleted)'


STOPPED_APISERVER = "host is running but kubelet is Running and apiserver is Stopped"
BROKEN_CONTROL_PLANE = "host is running but kubelet is Stopped and apiserver is Error"
PAUSED = 'the control plane is paused; run "minikube unpause -p demo"'
HOST_REPORTED = "minikube reports the host as"
ALL_ERROR = {"Host": "Error", "Kubelet": "Error", "APIServer": "Error", "Kubeconfig": "Error"}


@pytest.mark.parametrize(
    ("override", "status", "reason"),
    [
        ({"APIServer": "Stopped"}, "error", STOPPED_APISERVER),
        ({"Kubelet": "Stopped", "APIServer": "Error"}, "error", BROKEN_CONTROL_PLANE),
        ({"Kubelet": "Stopped", "APIServer": "Paused"}, "error", PAUSED),
        (ALL_ERROR, "error", f"{HOST_REPORTED} Error"),
        (
            {"Host": "InsufficientStorage"},
            "error",
            "minikube reports the host as InsufficientStorage",
        ),
    ],
)
async def test_unhealthy_components_probe_as_error_with_the_reason(
    standin: StandIn, override: dict[str, str], status: str, reason: str
) -> None:
    await standin.driver().start(standin.spec(), ProgressLog())
    degraded = standin.driver(MINIKUBE_STANDIN_STATUS=json.dumps(override))

    result = await degraded.probe(standin.spec())

    assert (result.status, result.reason) == (status, reason)


async def test_a_stale_kubeconfig_is_refreshed_when_a_kubeconfig_is_handed_out(
    standin: StandIn,
) -> None:
    spec = standin.spec()
    await standin.driver().start(spec, ProgressLog())
    moved = standin.driver(MINIKUBE_STANDIN_APISERVER="https://127.0.0.1:45678")

    before = await moved.probe(spec)
    kubeconfig = yaml.safe_load(await moved.kubeconfig(spec))
    after = await moved.probe(spec)

    assert (before.status, before.components["Kubeconfig"]) == ("running", "Misconfigured")
    assert before.reason is not None and "update-context" in before.reason
    assert ["update-context", "-p", "demo"] in standin.invocations()
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:45678"
    assert (after.status, after.reason) == ("running", None)


async def test_kubeconfig_is_a_self_contained_single_context(standin: StandIn) -> None:
    driver, spec = standin.driver(), standin.spec()
    await driver.start(spec, ProgressLog())
    await driver.start(standin.spec("other"), ProgressLog())

    document = yaml.safe_load(await driver.kubeconfig(spec))

    assert standin.invocations()[-1] == ["update-context", "-p", "demo"]
    assert document["current-context"] == "demo"
    assert [entry["name"] for entry in document["contexts"]] == ["demo"]
    assert "certificate-authority-data" in document["clusters"][0]["cluster"]
    assert set(document["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}


async def test_each_cluster_keeps_its_own_kubeconfig_and_the_users_is_untouched(
    standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users_kubeconfig = tmp_path / "users-kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(users_kubeconfig))
    driver, spec = standin.driver(), standin.spec()

    await driver.start(spec, ProgressLog())

    assert not users_kubeconfig.exists()
    assert driver.kubeconfig_path(spec) == spec.state_dir / "kubeconfig"
    assert driver.kubeconfig_path(spec).exists()


async def test_kubeconfig_of_a_stopped_cluster_is_a_retryable_error(standin: StandIn) -> None:
    driver, spec = standin.driver(), standin.spec()
    await driver.start(spec, ProgressLog())
    await driver.stop(spec)

    with pytest.raises(TemporaryDriverError) as failure:
        await driver.kubeconfig(spec)

    assert "exit code 89 (ExGuestUnavailable)" in failure.value.message


async def test_kubeconfig_of_a_missing_profile_is_a_permanent_error(standin: StandIn) -> None:
    with pytest.raises(PermanentDriverError, match='minikube has no profile "demo"'):
        await standin.driver().kubeconfig(standin.spec())


@pytest.mark.parametrize(
    ("exit_code", "error_type", "reason_id", "code_name"),
    [
        (14, PermanentDriverError, "MK_USAGE", "ExProgramUsage"),
        (23, PermanentDriverError, "RSRC_INSUFFICIENT_SYS_MEMORY", "ExInsufficientMemory"),
        (26, PermanentDriverError, "RSRC_DOCKER_STORAGE", "ExInsufficientStorage"),
        (29, PermanentDriverError, "RSRC_INSUFFICIENT_CORES", "ExInsufficientCores"),
        (55, TemporaryDriverError, "DRV_DOCKER_NOT_RUNNING", "ExDriverNotFound"),
        (80, TemporaryDriverError, "GUEST_PROVISION", "ExGuestError"),
        (100, TemporaryDriverError, "K8S_INSTALL_FAILED", "ExControlPlaneError"),
    ],
)
async def test_start_failures_are_classified_by_minikubes_exit_code(
    standin: StandIn,
    exit_code: int,
    error_type: type[Exception],
    reason_id: str,
    code_name: str,
) -> None:
    progress = ProgressLog()
    driver = standin.driver(MINIKUBE_STANDIN_FAIL_START=str(exit_code))

    with pytest.raises(error_type) as failure:
        await driver.start(standin.spec(), progress)

    error = failure.value
    assert isinstance(error, (PermanentDriverError, TemporaryDriverError))
    assert error.code == reason_id
    assert error.message.startswith(
        f"minikube start failed with exit code {exit_code} ({code_name}): {reason_id}: "
    )
    assert any(line.startswith("❌  Exiting due to " + reason_id) for line in progress.lines)


async def test_more_cpus_than_the_host_has_is_refused_by_minikube_permanently(
    standin: StandIn,
) -> None:
    with pytest.raises(PermanentDriverError) as failure:
        await standin.driver().start(standin.spec(cpus=512), ProgressLog())

    assert failure.value.message == (
        "minikube start failed with exit code 29 (ExInsufficientCores): "
        "RSRC_INSUFFICIENT_CORES: Requested cpu count 512 is greater than the available cpus of 4"
    )


async def test_progress_arrives_while_a_slow_start_is_still_running(standin: StandIn) -> None:
    progress = ProgressLog()
    driver = standin.driver(MINIKUBE_STANDIN_START_SECONDS="3")

    start = asyncio.create_task(driver.start(standin.spec(), progress))
    await eventually(lambda: len(progress.lines) >= 2)
    still_running = not start.done()
    await start

    assert still_running
    assert progress.lines[-1] == DONE_LINE


async def test_a_start_past_its_deadline_is_killed_and_retryable(standin: StandIn) -> None:
    driver = standin.driver(MINIKUBE_STANDIN_START_SECONDS="60")
    driver.start_timeout = 1.0

    with pytest.raises(TemporaryDriverError) as failure:
        await driver.start(standin.spec(), ProgressLog())

    assert failure.value.code == "TIMEOUT"
    assert failure.value.message.startswith("minikube start did not finish within 1 s")
    await eventually(lambda: not standin_pids(standin.home))


async def test_a_cancelled_start_leaves_no_minikube_process_behind(standin: StandIn) -> None:
    progress = ProgressLog()
    driver = standin.driver(MINIKUBE_STANDIN_START_SECONDS="60")
    start = asyncio.create_task(driver.start(standin.spec(), progress))
    await eventually(lambda: len(progress.lines) >= 1)

    start.cancel()
    with pytest.raises(asyncio.CancelledError):
        await start

    await eventually(lambda: not standin_pids(standin.home))


async def test_a_failing_progress_callback_does_not_abort_the_start(standin: StandIn) -> None:
    async def broken(line: str) -> None:
        raise RuntimeError("event bus down")

    await standin.driver().start(standin.spec(), broken)

    assert (await standin.driver().probe(standin.spec())).status == "running"


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        ({"name": "Demo_1"}, "name"),
        ({"name": "x"}, "name"),
        ({"name": "--help"}, "name"),
        ({"cpus": 0}, "cpus"),
        ({"memory_mb": -1}, "memory"),
        ({"disk_size_mb": True}, "disk_size"),
        ({"kubernetes_version": "latest"}, "kubernetes_version"),
        ({"extra": {"minikube_driver": "docker --force"}}, "minikube_driver"),
    ],
)
async def test_an_invalid_spec_is_refused_before_minikube_runs(
    standin: StandIn, changes: dict[str, Any], field_name: str
) -> None:
    with pytest.raises(InvalidClusterSpec) as failure:
        await standin.driver().start(standin.spec(**changes), ProgressLog())

    assert failure.value.field == field_name
    assert standin.invocations() == []


async def test_the_minikube_driver_comes_from_the_spec(standin: StandIn) -> None:
    spec = standin.spec(extra={"minikube_driver": "kvm2"})

    await standin.driver().start(spec, ProgressLog())

    assert standin.invocations()[0][3:5] == ["--driver", "kvm2"]


async def test_a_missing_executable_is_a_permanent_error(tmp_path: Path) -> None:
    driver = MinikubeDriver(executable=str(tmp_path / "no-minikube-here"))
    spec = StandIn(home=tmp_path, clusters=tmp_path).spec()

    with pytest.raises(PermanentDriverError) as failure:
        await driver.probe(spec)

    assert failure.value.code == "MINIKUBE_NOT_FOUND"


async def test_stopping_or_deleting_a_missing_profile_succeeds(standin: StandIn) -> None:
    driver, spec = standin.driver(), standin.spec()

    await driver.stop(spec)
    await driver.delete(spec)

    assert standin.invocations() == [["stop", "-p", "demo"], ["delete", "-p", "demo"]]


async def test_a_stop_that_times_out_inside_minikube_is_retryable(standin: StandIn) -> None:
    await standin.driver().start(standin.spec(), ProgressLog())

    with pytest.raises(TemporaryDriverError) as failure:
        await standin.driver(MINIKUBE_STANDIN_FAIL_STOP="82").stop(standin.spec())

    assert failure.value.code == "GUEST_STOP_TIMEOUT"


async def test_load_image_by_name_from_the_hosts_daemon(standin: StandIn) -> None:
    driver, spec = standin.driver(), standin.spec()
    await driver.start(spec, ProgressLog())

    await driver.load_image(spec, "web:1.0.0")

    assert standin.invocations()[-1] == ["image", "load", "web:1.0.0", "-p", "demo"]
    assert standin.profile_state()["images"] == [
        {"source": "web:1.0.0", "tags": ["web:1.0.0"], "daemon": True}
    ]


async def test_load_image_from_an_archive_file_passes_its_absolute_path(
    standin: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver, spec = standin.driver(), standin.spec()
    await driver.start(spec, ProgressLog())
    (tmp_path / "web.tar").write_bytes(image_archive("web:1.0.0"))
    monkeypatch.chdir(tmp_path)

    await driver.load_image(spec, "web:1.0.0", Path("web.tar"))

    assert standin.invocations()[-1] == ["image", "load", str(tmp_path / "web.tar"), "-p", "demo"]
    assert standin.profile_state()["images"][0]["tags"] == ["web:1.0.0"]  # type: ignore[index]


async def test_load_image_streams_an_archive_through_stdin(standin: StandIn) -> None:
    driver, spec = standin.driver(), standin.spec()
    await driver.start(spec, ProgressLog())
    archive = image_archive("api:2.1.0")

    async def chunks() -> AsyncIterator[bytes]:
        for offset in range(0, len(archive), 1000):
            yield archive[offset : offset + 1000]

    await driver.load_image(spec, "api:2.1.0", chunks())

    assert standin.invocations()[-1] == ["image", "load", "-", "-p", "demo"]
    loaded = standin.profile_state()["images"][0]  # type: ignore[index]
    assert loaded["tags"] == ["api:2.1.0"]
    assert loaded["bytes"] == len(archive)


async def test_load_image_into_a_missing_cluster_is_permanent(standin: StandIn) -> None:
    with pytest.raises(PermanentDriverError) as failure:
        await standin.driver().load_image(standin.spec(), "web:1.0.0")

    assert failure.value.code == "MK_USAGE"
    assert "exit code 14 (ExProgramUsage)" in failure.value.message


@pytest.mark.parametrize("image", ["-rm", "web 1.0", "web:1.0\n--force", ""])
async def test_an_image_reference_that_could_be_an_option_is_refused(
    standin: StandIn, image: str
) -> None:
    with pytest.raises(InvalidClusterSpec):
        await standin.driver().load_image(standin.spec(), image)

    assert standin.invocations() == []


async def test_no_command_leaves_a_process_running(standin: StandIn) -> None:
    driver, spec = standin.driver(), standin.spec()
    await driver.start(spec, ProgressLog())
    await driver.probe(spec)
    await driver.stop(spec)

    assert standin_pids(standin.home) == []
    assert os.environ.get("MINIKUBE_HOME") != str(standin.home)
