"""The health monitor (service_layer/health.py): which clusters it probes, and what a probe
changes."""

from __future__ import annotations

import asyncio
import functools

from slipway_cluster_manager.domain.ports import ProbeResult, TemporaryDriverError
from slipway_cluster_manager.service_layer.health import probe_clusters
from slipway_cluster_manager.service_layer.operations import stop_cluster
from slipway_contracts.commands import StopCluster
from tests.unit.cluster_manager.fakes import API_SERVER, Parts


async def test_a_running_cluster_that_stopped_behind_slipways_back_turns_error(parts: Parts):
    cluster = parts.put(status="running")
    parts.driver.running.clear()

    assert await probe_clusters(parts.deps) == 1

    stored = await parts.stored(cluster.id)
    assert stored.status == "error"
    assert stored.state.reason == (
        "the cluster is stopped (not through Slipway); Host: Stopped, APIServer: Stopped"
    )
    assert stored.state.last_probe is not None
    assert parts.events() == ["error"]


async def test_a_failed_cluster_that_answers_again_turns_running_with_its_api_server(
    parts: Parts,
):
    cluster = parts.put(status="error")
    parts.driver.running.add("demo")

    assert await probe_clusters(parts.deps) == 1

    stored = await parts.stored(cluster.id)
    assert (stored.status, stored.state.reason) == ("running", None)
    assert stored.state.api_server == API_SERVER
    assert parts.events() == ["running"]


async def test_a_healthy_cluster_is_left_alone_and_nothing_is_written(parts: Parts):
    cluster = parts.put(status="running")

    assert await probe_clusters(parts.deps) == 0

    assert parts.driver.called("probe") == ["demo"]
    assert (await parts.stored(cluster.id)).revision == cluster.revision
    assert parts.uow.commits == 0


async def test_stopped_clusters_and_operations_in_flight_are_not_probed(parts: Parts):
    parts.put("idle")
    parts.put("starting", status="error", operation="start")
    parts.put("stopping", status="running", operation="stop")

    assert await probe_clusters(parts.deps) == 0

    assert parts.driver.called("probe") == []


async def test_an_attached_cluster_follows_its_probe_whatever_its_status(parts: Parts):
    stopped = parts.put("prod", driver="kubeconfig", kubeconfig="/kc")
    running = parts.put("lab", driver="kubeconfig", status="running", kubeconfig="/kc")
    parts.driver.running = {"prod"}  # prod came up, lab went down

    assert await probe_clusters(parts.deps) == 2

    assert (await parts.stored(stopped.id)).status == "running"
    assert (await parts.stored(running.id)).status == "error"
    assert sorted(parts.driver.called("probe")) == ["lab", "prod"]  # each probed once


async def test_a_probe_that_cannot_run_says_why(parts: Parts):
    cluster = parts.put(status="running")
    parts.driver.fail["probe"] = TemporaryDriverError("minikube status hung")

    await probe_clusters(parts.deps)

    assert (await parts.stored(cluster.id)).state.reason == (
        "the health probe could not run: minikube status hung"
    )


async def test_a_probe_without_an_answer_gives_up_at_twice_the_probe_timeout(tmp_path):
    parts = Parts(tmp_path, probe_timeout_s=0.01)
    cluster = parts.put(status="running")
    parts.driver.during_probe = asyncio.Event().wait  # never answers

    await probe_clusters(parts.deps)

    assert (await parts.stored(cluster.id)).state.reason == (
        "the health probe got no answer within 0.02 s"
    )


async def test_the_reason_a_driver_gives_is_kept(parts: Parts):
    cluster = parts.put(status="running")
    parts.driver.probe_result = ProbeResult("error", "kubelet: Stopped")

    await probe_clusters(parts.deps)

    assert (await parts.stored(cluster.id)).state.reason == "kubelet: Stopped"


async def test_a_probe_overtaken_by_a_command_writes_nothing(parts: Parts):
    cluster = parts.put(status="running")
    parts.driver.running.clear()
    # A stop lands while the probe runs: the probe says nothing about the cluster now.
    parts.driver.during_probe = functools.partial(
        stop_cluster, parts.deps, StopCluster(id=cluster.id)
    )

    assert await probe_clusters(parts.deps) == 0

    stored = await parts.stored(cluster.id)
    assert stored.status == "running"
    assert stored.state.operation is not None
    assert parts.events() == ["updated"]  # the stop's, nothing of the probe's
