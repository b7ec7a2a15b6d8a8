"""Reaching clusters (service_layer/cluster_access.py), the cluster-manager over NATS
(adapters/cluster_manager.py)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest
from nats.errors import NoRespondersError

from slipway_contracts import subjects
from slipway_libs import context
from slipway_workload_manager.adapters.cluster_manager import NatsClusterManager, OwnerQueries
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)
from tests.unit.workload_manager.fakes import CLUSTER, IMAGE, new_world


async def test_a_kubeconfig_is_asked_once_per_cluster_and_api_server():
    world = new_world()
    connections = world.deps.connections
    first = await connections.access(CLUSTER)
    assert await connections.access(CLUSTER) is first
    assert world.manager.kubeconfig_asks == 1
    moved = replace(CLUSTER, api_server="https://elsewhere")
    await connections.access(moved)
    assert world.manager.kubeconfig_asks == 2
    connections.forget(CLUSTER.id)
    await connections.access(moved)
    assert world.manager.kubeconfig_asks == 3


async def test_an_image_is_handed_over_once_per_digest_even_to_concurrent_rollouts():
    world = new_world()
    connections = world.deps.connections
    loads = await asyncio.gather(
        *(connections.hand_image(CLUSTER, IMAGE.reference, "sha256:a") for _ in range(5))
    )
    assert sorted(loads) == [False, False, False, False, True]
    assert await connections.hand_image(CLUSTER, IMAGE.reference, "sha256:b")
    assert await connections.hand_image(CLUSTER, IMAGE.reference, "sha256:b", again=True)
    assert len(world.manager.loads) == 3


# --- the cluster-manager over request-reply ---------------------------------------------


@dataclass
class FakeConnection:
    """A NATS connection that answers each request with `reply` (or raises it)."""

    reply: Any
    is_connected: bool = True
    sent: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)

    async def request(self, subject: str, body: bytes, timeout: float, headers: dict[str, str]):
        self.sent.append((subject, json.loads(body), headers))
        if isinstance(self.reply, Exception):
            raise self.reply
        return SimpleNamespace(data=json.dumps(self.reply).encode())


def manager(reply: Any) -> tuple[NatsClusterManager, FakeConnection]:
    connection = FakeConnection(reply)
    broker = SimpleNamespace(connection=connection)
    return NatsClusterManager(broker, query_timeout_s=1, load_timeout_s=1), connection


async def test_the_kubeconfig_is_read_from_the_cluster_managers_answer():
    cluster_manager, connection = manager({"ok": True, "data": {"kubeconfig": "apiVersion: v1"}})
    assert await cluster_manager.kubeconfig("cl-1") == "apiVersion: v1"
    kubeconfig_query = subjects.query(subjects.MINIKUBE_CLUSTER, "kubeconfig")
    assert connection.sent[0][:2] == (kubeconfig_query, {"id": "cl-1"})


async def test_each_image_load_is_a_new_command():
    cluster_manager, connection = manager({"ok": True, "data": {"image": "shop/web:1.0.0"}})
    await cluster_manager.load_image("cl-1", "shop/web:1.0.0")
    await cluster_manager.load_image("cl-1", "shop/web:1.0.0")
    ids = [headers[context.COMMAND_ID_HEADER] for _, _, headers in connection.sent]
    assert len(set(ids)) == 2


async def test_a_refusal_keeps_its_code_and_details_and_an_outage_is_unavailable():
    error = {"code": "conflict", "message": "cannot load", "details": {"driver_code": "X"}}
    cluster_manager, _ = manager({"ok": False, "error": error})
    with pytest.raises(ClusterManagerRefused) as refused:
        await cluster_manager.load_image("cl-1", "shop/web:1.0.0")
    assert (refused.value.message, refused.value.code, refused.value.driver_code) == (
        "cannot load",
        "conflict",
        "X",
    )
    for reply in (NoRespondersError(), {"ok": False, "error": {"code": "unavailable"}}):
        cluster_manager, _ = manager(reply)
        with pytest.raises(ClusterManagerUnavailable):
            await cluster_manager.kubeconfig("cl-1")
    cluster_manager, _ = manager({"ok": True, "data": {}})
    with pytest.raises(ClusterManagerRefused, match="has no 'kubeconfig'"):
        await cluster_manager.kubeconfig("cl-1")


async def test_an_owner_that_cannot_answer_gives_no_snapshot():
    owners = OwnerQueries(
        SimpleNamespace(connection=FakeConnection(NoRespondersError())), timeout_s=1
    )
    assert await owners.snapshot("minikube_cluster", "cl-1") is None
    answer = {"ok": True, "data": {"id": "cl-1", "revision": 2}}
    owners = OwnerQueries(SimpleNamespace(connection=FakeConnection(answer)), timeout_s=1)
    assert await owners.snapshot("minikube_cluster", "cl-1") == {"id": "cl-1", "revision": 2}
