"""`minikube` clusters through the cluster-manager, against the minikube stand-in
(tests/fixtures/minikube-standin: minikube's documented commands, output and exit codes;
it records every invocation). The stand-in's knobs reach it through the manager's
environment."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from slipway_contracts import subjects
from tests.events import read_events
from tests.helpers import live_processes
from tests.integration.cluster_manager.conftest import CLUSTER, STANDIN, Bus, Manager
from tests.waiting import eventually

pytestmark = pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="minikube needs 2 cores and this host has fewer"
)


def invocations(manager: Manager) -> list[list[str]]:
    log = manager.minikube_home / "invocations.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def start_argv(name: str) -> list[str]:
    return [
        "start", "-p", name, "--driver", "docker", "--cpus", "2", "--memory", "2048mb",
        "--disk-size", "20000mb", "--kubernetes-version", "v1.32.0", "--embed-certs",
        "--interactive=false",
    ]  # fmt: skip


def standin_pids(home: Path) -> list[int]:
    """Live stand-in processes of this minikube home (found through /proc)."""
    return live_processes(f"MINIKUBE_HOME={home}".encode(), b"minikube-standin")


@pytest.fixture
async def own_bus(start_manager: Callable[..., Manager]) -> AsyncIterator[Callable[..., Bus]]:
    """A bus to a cluster-manager of its own, started with extra environment."""
    clients: list[nats.NATS] = []

    async def connect(**env: str) -> Bus:
        manager = await asyncio.to_thread(start_manager, **env)
        client = await nats.connect(manager.nats_url)
        clients.append(client)
        return Bus(client, manager)

    yield connect
    for client in clients:
        await client.close()


async def test_a_minikube_cluster_runs_the_documented_commands(bus: Bus) -> None:
    created = await bus.create(name="mk-demo", driver="minikube")
    live: list[str] = []

    async def on_progress(msg: Msg) -> None:
        live.extend(json.loads(msg.data)["lines"])

    subscription = await bus.client.subscribe(
        subjects.progress(CLUSTER, created["id"]), cb=on_progress
    )
    assert (await bus.command("start", {"id": created["id"]}))["ok"]

    cluster = await bus.wait_status(created["id"], "running")

    await subscription.unsubscribe()
    assert start_argv("mk-demo") in invocations(bus.manager)
    assert live[0] == "😄  [mk-demo] minikube v1.37.0 on Linux (minikube stand-in)"
    assert cluster["api_server"].startswith("https://127.0.0.1:")
    progress = [
        line
        for name, event in await bus.events(cluster["id"])
        if name == "updated"
        for line in event["data"]["operation"]["progress"]
    ]
    assert progress[-1] == (
        '🏄  Done! kubectl is now configured to use "mk-demo" cluster and "default" '
        "namespace by default"
    )
    kubeconfig = await bus.query("kubeconfig", {"id": cluster["id"]})
    assert ["update-context", "-p", "mk-demo"] in invocations(bus.manager)
    assert "current-context: mk-demo" in kubeconfig["data"]["kubeconfig"]

    assert (await bus.command("stop", {"id": cluster["id"]}))["ok"]
    await bus.wait_status(cluster["id"], "stopped")
    assert ["stop", "-p", "mk-demo"] in invocations(bus.manager)

    deleting = await bus.command("delete", {"id": cluster["id"]})
    assert deleting["data"]["operation"]["action"] == "delete"
    await bus.wait_gone(cluster["id"])
    assert invocations(bus.manager)[-1] == ["delete", "-p", "mk-demo"]
    assert (await bus.events(cluster["id"]))[-1][0] == "deleted"


async def test_a_cluster_stopped_behind_slipways_back_turns_error_and_recovers(
    bus: Bus,
) -> None:
    created = await bus.create(name="mk-drift", driver="minikube", start=True)
    await bus.wait_status(created["id"], "running")

    # Someone runs `minikube stop` by hand: `minikube status` now exits 7 (all stopped).
    env = {**os.environ, "MINIKUBE_HOME": str(bus.manager.minikube_home)}
    subprocess.run([str(STANDIN), "stop", "-p", "mk-drift"], env=env, check=True)
    failed = await bus.wait_status(created["id"], "error", timeout_s=10)

    assert failed["reason"].startswith("the cluster is stopped (not through Slipway)")
    assert "Host: Stopped" in failed["reason"]
    assert ["status", "-p", "mk-drift", "-o", "json"] in invocations(bus.manager)

    assert (await bus.command("start", {"id": created["id"]}))["ok"]
    await bus.wait_status(created["id"], "running")
    await bus.delete(created["id"])


async def test_a_start_past_its_deadline_ends_error_and_leaves_no_process(
    own_bus: Callable[..., Bus],
) -> None:
    bus = await own_bus(SLIPWAY_MINIKUBE_START_DEADLINE_S="2", MINIKUBE_STANDIN_START_SECONDS="120")
    created = await bus.create(name="mk-slow", driver="minikube", start=True)

    failed = await bus.wait_status(created["id"], "error", timeout_s=15)

    assert failed["reason"] == "start did not finish within 2 s"
    assert failed["operation"] is None
    assert standin_pids(bus.manager.minikube_home) == []
    # Nothing is stuck: the cluster takes the next command.
    assert (await bus.command("stop", {"id": created["id"]}))["ok"]
    await bus.wait_status(created["id"], "stopped")


async def test_a_documented_start_failure_ends_error_with_minikubes_reason(
    own_bus: Callable[..., Bus],
) -> None:
    bus = await own_bus(MINIKUBE_STANDIN_FAIL_START="29")
    created = await bus.create(name="mk-cores", driver="minikube", start=True)

    failed = await bus.wait_status(created["id"], "error")

    assert failed["reason"].startswith(
        "minikube start failed with exit code 29 (ExInsufficientCores): RSRC_INSUFFICIENT_CORES"
    )
    assert [argv[0] for argv in invocations(bus.manager)].count("start") == 1  # not retried


async def test_a_retryable_start_failure_is_retried_then_ends_error(
    own_bus: Callable[..., Bus],
) -> None:
    # Exit code 1 (ExFailure) may pass on a second try; two attempts are allowed here.
    bus = await own_bus(MINIKUBE_STANDIN_FAIL_START="1", SLIPWAY_JOB_MAX_DELIVER="2")
    created = await bus.create(name="mk-flaky", driver="minikube", start=True)

    failed = await bus.wait_status(created["id"], "error")

    assert failed["reason"].startswith(
        "gave up after 2 attempts: minikube start failed with exit code 1 (ExFailure)"
    )
    assert [argv[0] for argv in invocations(bus.manager)].count("start") == 2


def deleting(manager: Manager, name: str) -> bool:
    """Whether the stand-in's `minikube delete -p <name>` has begun and still runs."""
    begun = ["delete", "-p", name] in invocations(manager)
    return begun and bool(standin_pids(manager.minikube_home))


@pytest.mark.slow
async def test_a_slow_delete_does_not_hold_other_cluster_commands(
    own_bus: Callable[..., Bus],
) -> None:
    # `minikube delete` takes 60 s here; the cluster-manager must keep answering meanwhile.
    bus = await own_bus(MINIKUBE_STANDIN_DELETE_SECONDS="60")
    doomed = await bus.create(name="mk-doomed", driver="minikube", start=True)
    await bus.wait_status(doomed["id"], "running")

    reply = await bus.command("delete", {"id": doomed["id"]})
    assert reply["data"]["operation"]["action"] == "delete"
    await eventually(
        functools.partial(deleting, bus.manager, "mk-doomed"), what="minikube delete running"
    )

    # While the delete runs: another cluster is created, read, started and reaches running.
    other = await bus.create(name="mk-other", driver="minikube")
    assert (await bus.get(other["id"]))["status"] == "stopped"
    assert (await bus.command("start", {"id": other["id"]}))["ok"]
    await bus.wait_status(other["id"], "running")
    busy = await bus.command("stop", {"id": doomed["id"]})
    assert busy["error"]["code"] == "conflict"  # one operation at a time, the delete's

    still = await bus.get(doomed["id"])
    assert still["operation"]["action"] == "delete"
    assert deleting(bus.manager, "mk-doomed")
    await bus.wait_gone(doomed["id"], timeout_s=120)
    order = [
        (event["subject"], name)
        for subject, event in await read_events(bus.client, subjects.event(CLUSTER, ">"))
        if (name := subject.rsplit(".", 1)[-1]) in ("running", "deleted")
    ]
    assert order.index((other["id"], "running")) < order.index((doomed["id"], "deleted"))


async def test_a_failing_delete_ends_error_with_minikubes_reason(
    own_bus: Callable[..., Bus],
) -> None:
    bus = await own_bus(MINIKUBE_STANDIN_FAIL_DELETE="82", SLIPWAY_JOB_MAX_DELIVER="1")
    created = await bus.create(name="mk-stuck", driver="minikube")

    assert (await bus.command("delete", {"id": created["id"]}))["ok"]
    failed = await bus.wait_status(created["id"], "error")

    assert "minikube delete failed with exit code 82" in failed["reason"]
    assert (await bus.events(created["id"]))[-1][0] == "error"
