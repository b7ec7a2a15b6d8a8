"""Cluster commands and queries over NATS: validation, conflicts, idempotency, attaching."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from slipway_cluster_manager.adapters.host import read_host_capabilities
from slipway_contracts import subjects
from tests.integration.cluster_manager.conftest import CLUSTER, PROBE_INTERVAL_S, Bus
from tests.waiting import eventually

TEN_TB_IN_MB = 10 * 1024 * 1024


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def field_errors(reply: dict[str, Any]) -> dict[str, str]:
    assert reply["ok"] is False, reply
    assert reply["error"]["code"] == "invalid", reply
    return {d["field"]: d["message"] for d in reply["error"]["details"]}


async def test_cpus_beyond_the_host_are_refused_naming_the_field_and_the_limit(bus: Bus) -> None:
    reply = await bus.command("create", {"name": unique("big"), "driver": "sim", "cpus": 512})

    cores = read_host_capabilities(bus.manager.state_dir).cpu_cores
    assert field_errors(reply) == {"cpus": f"512 exceeds the host's {cores} cores"}
    assert reply["error"]["message"].startswith("invalid input: cpus: 512 exceeds")


async def test_ten_terabytes_of_memory_are_refused_naming_the_field_and_the_limit(
    bus: Bus,
) -> None:
    reply = await bus.command(
        "create", {"name": unique("big"), "driver": "minikube", "memory": TEN_TB_IN_MB}
    )

    message = field_errors(reply)["memory"]
    host = read_host_capabilities(bus.manager.state_dir)
    assert message.startswith(f"{TEN_TB_IN_MB} MB exceeds the host's available ")
    assert f"({host.memory_total_mb} MB total, 1024 MB reserved for the host)" in message


async def test_every_bad_field_is_named_at_once(bus: Bus) -> None:
    reply = await bus.command(
        "create",
        {"name": unique("bad"), "driver": "sim", "cpus": 512, "kubernetes_version": "1.30"},
    )
    errors = field_errors(reply)
    assert set(errors) == {"cpus", "kubernetes_version"}
    assert "is not of the form vMAJOR.MINOR.PATCH" in errors["kubernetes_version"]


async def test_a_malformed_name_is_refused_by_the_contract(bus: Bus) -> None:
    reply = await bus.command("create", {"name": "Not_A_Label", "driver": "sim"})
    assert "name" in field_errors(reply)


async def test_a_second_cluster_with_the_same_name_is_a_conflict(bus: Bus) -> None:
    name = unique("twin")
    first = await bus.create(name=name, driver="sim")

    reply = await bus.command("create", {"name": name, "driver": "sim"})

    assert reply["error"]["code"] == "conflict"
    assert reply["error"]["message"] == f"a cluster named '{name}' already exists"
    await bus.delete(first["id"])


async def test_a_repeated_create_command_returns_the_first_reply(bus: Bus) -> None:
    command_id = str(uuid.uuid4())
    body = {"name": unique("once"), "driver": "sim"}

    first = await bus.command("create", body, command_id=command_id)
    second = await bus.command("create", body, command_id=command_id)

    assert first["ok"] and second == first
    listed = await bus.query("list", {"limit": 500})
    assert [c["id"] for c in listed["data"]["items"] if c["name"] == body["name"]] == [
        first["data"]["id"]
    ]
    await bus.delete(first["data"]["id"])


async def test_start_on_a_running_cluster_and_stop_on_a_stopped_one_are_conflicts(
    bus: Bus,
) -> None:
    name = unique("busy")
    cluster = await bus.create(name=name, driver="sim")

    stop = await bus.command("stop", {"id": cluster["id"]})
    assert stop["error"]["code"] == "conflict"
    assert stop["error"]["message"].startswith(f"cluster '{name}' is stopped")
    assert stop["error"]["details"] == {"current_status": "stopped"}

    assert (await bus.command("start", {"id": cluster["id"]}))["ok"]
    in_flight = await bus.command("start", {"id": cluster["id"]})
    assert in_flight["error"]["code"] == "conflict"
    assert "a start is in flight" in in_flight["error"]["message"]

    await bus.wait_status(cluster["id"], "running")
    again = await bus.command("start", {"id": cluster["id"]})
    assert again["error"]["code"] == "conflict"
    assert again["error"]["message"].startswith(f"cluster '{name}' is running")
    assert again["error"]["details"] == {"current_status": "running"}
    await bus.delete(cluster["id"])


async def test_a_stale_revision_is_a_failed_precondition(bus: Bus) -> None:
    cluster = await bus.create(name=unique("etag"), driver="sim")
    reply = await bus.command("start", {"id": cluster["id"], "expected_revision": 7})
    assert reply["error"]["code"] == "precondition_failed"
    await bus.delete(cluster["id"])


async def test_unknown_clusters_are_not_found(bus: Bus) -> None:
    for subject, body in (
        (subjects.command(CLUSTER, "start"), {"id": "nope"}),
        (subjects.command(CLUSTER, "delete"), {"id": "nope"}),
        (subjects.query(CLUSTER, "get"), {"id": "nope"}),
        (subjects.query(CLUSTER, "kubeconfig"), {"id": "nope"}),
        (subjects.command(CLUSTER, "load_image"), {"id": "nope", "image": "web:1.0.0"}),
    ):
        reply = await bus.ask(subject, body)
        assert reply["error"]["code"] == "not_found", (subject, reply)
        assert reply["error"]["message"] == "minikube_cluster 'nope' does not exist"


async def test_lists_filter_by_status_and_page_with_a_cursor(bus: Bus) -> None:
    ids = [(await bus.create(name=unique("page"), driver="sim"))["id"] for _ in range(3)]

    seen: list[str] = []
    cursor = None
    while True:
        reply = await bus.query("list", {"status": "stopped", "limit": 2, "cursor": cursor})
        assert all(c["status"] == "stopped" for c in reply["data"]["items"])
        seen += [c["id"] for c in reply["data"]["items"]]
        cursor = reply["data"]["next_cursor"]
        if cursor is None:
            break

    assert set(ids) <= set(seen)
    for cluster_id in ids:
        await bus.delete(cluster_id)


async def test_the_health_monitor_reads_only_the_clusters_it_may_probe(bus: Bus) -> None:
    # Twenty clusters that are neither up, failed nor attached: each probe round (every
    # second here, every 5 s by default) looks clusters up by status and by driver, and
    # must not read these on the way (it did, every cluster each round, before an index).
    idle = [(await bus.create(name=unique("idle"), driver="sim"))["id"] for _ in range(20)]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(bus.manager.mongodb_uri)
    database = client[bus.manager.database]
    await database.command("profile", 2)
    try:
        lookups = {"ns": f"{bus.manager.database}.minikube_clusters", "op": "query"}

        async def a_round_of_lookups() -> list[dict[str, Any]] | None:
            found = await database["system.profile"].find(lookups).to_list()
            filters = [q["command"].get("filter", {}) for q in found]
            by_driver = any("driver" in f for f in filters)
            return found if by_driver and any("status" in f for f in filters) else None

        found = await eventually(
            a_round_of_lookups, timeout_s=10 * PROBE_INTERVAL_S, what="a probe round"
        )
    finally:
        await database.command("profile", 0)
        await client.close()
    for lookup in found:
        passed_over = lookup["docsExamined"] - lookup["nreturned"]
        assert passed_over < len(idle), lookup["command"]["filter"]
    for cluster_id in idle:
        await bus.delete(cluster_id)


async def test_loading_an_image_needs_a_running_cluster(bus: Bus) -> None:
    name = unique("cold")
    cluster = await bus.create(name=name, driver="sim")
    reply = await bus.command("load_image", {"id": cluster["id"], "image": "web:1.0.0"})
    assert reply["error"]["code"] == "conflict"
    assert reply["error"]["message"].startswith(f"cluster '{name}' is stopped")
    await bus.delete(cluster["id"])


# --- attaching an existing cluster through a kubeconfig -----------------------------


@pytest.fixture
async def sim_kubeconfig(bus: Bus):
    """A running sim cluster's kubeconfig file under the kubeconfig root, to attach as if
    it were any cluster."""
    name = unique("host")
    created = await bus.create(name=name, driver="sim", start=True)
    await bus.wait_status(created["id"], "running")
    reply = await bus.query("kubeconfig", {"id": created["id"]})
    path = bus.manager.kubeconfig_root / name
    path.write_text(reply["data"]["kubeconfig"])
    yield path, name
    await bus.delete(created["id"])


async def test_an_attached_cluster_turns_running_by_probing_and_is_never_started(
    bus: Bus, sim_kubeconfig: tuple[Path, str]
) -> None:
    path, context = sim_kubeconfig
    attached = await bus.create(
        name=unique("attached"), driver="kubeconfig", kubeconfig=str(path), context=context
    )
    assert attached["status"] == "stopped"

    running = await bus.wait_status(attached["id"], "running", timeout_s=10)

    assert running["api_server"].startswith("https://127.0.0.1:")
    start = await bus.command("start", {"id": attached["id"]})
    assert start["error"]["code"] == "conflict"
    assert "attached through a kubeconfig" in start["error"]["message"]
    kubeconfig = await bus.query("kubeconfig", {"id": attached["id"]})
    assert f"current-context: {context}" in kubeconfig["data"]["kubeconfig"]
    # Deleting only detaches: the cluster itself keeps running.
    await bus.delete(attached["id"])
    assert bus.manager.sim_pid(context) is not None


async def test_attaching_needs_an_existing_kubeconfig_and_context(
    bus: Bus, sim_kubeconfig: tuple[Path, str]
) -> None:
    path, _ = sim_kubeconfig
    missing = bus.manager.kubeconfig_root / "nope"
    missing_file = await bus.command(
        "create", {"name": unique("a"), "driver": "kubeconfig", "kubeconfig": str(missing)}
    )
    assert field_errors(missing_file) == {"kubeconfig": f"kubeconfig {missing} does not exist"}
    missing_context = await bus.command(
        "create",
        {"name": unique("a"), "driver": "kubeconfig", "kubeconfig": str(path), "context": "nope"},
    )
    assert field_errors(missing_context) == {
        "context": "the kubeconfig has no context named 'nope'"
    }
    not_attached = await bus.command(
        "create", {"name": unique("a"), "driver": "sim", "kubeconfig": str(path)}
    )
    assert "kubeconfig" in field_errors(not_attached)
