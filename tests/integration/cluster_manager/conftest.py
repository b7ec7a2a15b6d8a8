"""A real cluster-manager process against real NATS and MongoDB, and a NATS client that
speaks to it the way the gateway and the workload-manager do (request-reply).

MongoDB is shared by the session (each manager gets its own database); each manager gets
its own nats-server, so managers with different settings never compete for a subject.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
import slipway_devstack as devstack
from slipway_simcluster import running_server_pid, stop_servers_under

from slipway_contracts import subjects
from tests.events import read_events
from tests.waiting import eventually

STANDIN = Path(__file__).resolve().parents[2] / "fixtures" / "minikube-standin" / "minikube"
PROBE_INTERVAL_S = 1.0
CLUSTER = subjects.MINIKUBE_CLUSTER


@dataclass
class Manager:
    """One cluster-manager process with its own NATS, database and state directory."""

    root: Path
    mongodb_uri: str
    overrides: dict[str, str]
    nats_port: int = field(default_factory=devstack.free_port)
    database: str = field(default_factory=lambda: f"cm_{uuid.uuid4().hex[:12]}")
    nats: devstack.ManagedProcess | None = None
    process: devstack.ManagedProcess | None = None

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def minikube_home(self) -> Path:
        return self.root / "minikube-home"

    @property
    def kubeconfig_root(self) -> Path:
        """The one directory the manager reads kubeconfig files from."""
        return self.root / "kube"

    def cluster_dir(self, name: str) -> Path:
        return self.state_dir / "clusters" / name

    def sim_pid(self, name: str) -> int | None:
        return running_server_pid(self.cluster_dir(name))

    def env(self) -> dict[str, str]:
        return {
            "SLIPWAY_NATS_URL": self.nats_url,
            "SLIPWAY_MONGODB_URI": self.mongodb_uri,
            "SLIPWAY_DATABASE": self.database,
            "SLIPWAY_STATE_DIR": str(self.state_dir),
            "SLIPWAY_PROBE_INTERVAL_S": str(PROBE_INTERVAL_S),
            "SLIPWAY_RECONCILE_INTERVAL_S": "1",
            "SLIPWAY_JOB_ACK_WAIT_S": "3",
            "SLIPWAY_SIM_READY_DELAY_S": "0.1",
            "SLIPWAY_MINIKUBE_PATH": str(STANDIN),
            "SLIPWAY_MINIKUBE_HOME": str(self.minikube_home),
            "MINIKUBE_STANDIN_HOST_CPUS": str(os.cpu_count() or 1),
            "SLIPWAY_KUBECONFIG_ROOTS": str(self.kubeconfig_root),
            **self.overrides,
        }

    def start(self) -> Manager:
        self.kubeconfig_root.mkdir(exist_ok=True)
        if self.nats is None or not self.nats.alive:
            self.nats = devstack.start_nats(self.root, self.nats_port)
        self.process = devstack.service_process(
            "cluster-manager", "slipway_cluster_manager", self.root, self.env()
        ).start()
        asyncio.run(self._wait_healthy())
        return self

    async def _wait_healthy(self, timeout_s: float = 60) -> None:
        client = await nats.connect(self.nats_url)
        try:
            await eventually(
                functools.partial(self._healthy, client),
                timeout_s=timeout_s,
                interval_s=0.2,
                what=f"the cluster-manager healthy (see {self.log})",
            )
        finally:
            await client.close()

    async def _healthy(self, client: nats.NATS) -> bool:
        assert self.process is not None
        if not self.process.alive:
            raise RuntimeError(f"the cluster-manager exited; see {self.log}")
        try:
            reply = await client.request(subjects.health("cluster-manager"), b"", timeout=1)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return False
        return bool(json.loads(reply.data).get("ok"))

    @property
    def log(self) -> Path:
        return self.root / "logs" / "cluster-manager.log"

    def stop_service(self) -> None:
        """Stop the cluster-manager process only (its clusters keep running)."""
        if self.process is not None:
            self.process.stop()

    def stop(self) -> None:
        self.stop_service()
        stop_servers_under(self.state_dir)
        if self.nats is not None:
            self.nats.stop()


@pytest.fixture(scope="session")
def cm_mongodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("cm-mongo")
    port = devstack.free_port()
    mongod = devstack.start_mongod(root, port)
    try:
        yield devstack.mongodb_uri(port)
    finally:
        mongod.stop(30)


@pytest.fixture(scope="session")
def start_manager(
    cm_mongodb: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Manager]]:
    """Start a cluster-manager with extra environment; all are stopped at the end."""
    started: list[Manager] = []

    def start(**overrides: str) -> Manager:
        manager = Manager(tmp_path_factory.mktemp("cluster-manager"), cm_mongodb, overrides)
        started.append(manager)
        return manager.start()

    try:
        yield start
    finally:
        for manager in started:
            manager.stop()


@pytest.fixture(scope="session")
def manager(start_manager: Callable[..., Manager]) -> Manager:
    """The cluster-manager most tests share (probe interval 1 s, the minikube stand-in)."""
    return start_manager()


class Bus:
    """Commands and queries over NATS request-reply, as the gateway sends them."""

    def __init__(self, client: nats.NATS, manager: Manager) -> None:
        self.client = client
        self.manager = manager

    async def ask(
        self, subject: str, body: dict[str, Any], command_id: str | None = None
    ) -> dict[str, Any]:
        headers = {"Slipway-Command-Id": command_id} if command_id else None
        reply = await self.client.request(
            subject, json.dumps(body).encode(), timeout=30, headers=headers
        )
        return json.loads(reply.data)  # type: ignore[no-any-return]

    async def command(self, action: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return await self.ask(subjects.command(CLUSTER, action), body, **kw)

    async def query(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.ask(subjects.query(CLUSTER, name), body)

    async def create(self, **body: Any) -> dict[str, Any]:
        reply = await self.command("create", body)
        assert reply["ok"], reply
        return reply["data"]  # type: ignore[no-any-return]

    async def get(self, cluster_id: str) -> dict[str, Any]:
        reply = await self.query("get", {"id": cluster_id})
        assert reply["ok"], reply
        return reply["data"]  # type: ignore[no-any-return]

    async def wait_for(
        self,
        cluster_id: str,
        condition: Callable[[dict[str, Any]], bool],
        timeout_s: float = 30,
        what: str = "condition",
    ) -> dict[str, Any]:
        try:
            return await eventually(
                functools.partial(self._holds, cluster_id, condition),
                timeout_s=timeout_s,
                interval_s=0.1,
                what=what,
            )
        except AssertionError as failure:
            raise AssertionError(f"{failure}; the cluster: {await self.get(cluster_id)}") from None

    async def _holds(
        self, cluster_id: str, condition: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any] | None:
        cluster = await self.get(cluster_id)
        return cluster if condition(cluster) else None

    async def wait_status(
        self, cluster_id: str, status: str, timeout_s: float = 30
    ) -> dict[str, Any]:
        """The cluster once it is `status` with no operation in flight."""
        return await self.wait_for(
            cluster_id,
            lambda c: c["status"] == status and c["operation"] is None,
            timeout_s,
            f"cluster {cluster_id} {status}",
        )

    async def events(self, cluster_id: str) -> list[tuple[str, dict[str, Any]]]:
        """Every event of one cluster so far, oldest first, as a new subscriber sees them."""
        return [
            (subject.rsplit(".", 1)[-1], event)
            for subject, event in await read_events(self.client, subjects.event(CLUSTER, ">"))
            if event["subject"] == cluster_id
        ]

    async def delete(self, cluster_id: str) -> None:
        """Delete the cluster (a job removes it) and wait until it is gone."""
        reply = await self.command("delete", {"id": cluster_id})
        assert reply["ok"] or reply["error"]["code"] == "not_found", reply
        await self.wait_gone(cluster_id)

    async def wait_gone(self, cluster_id: str, timeout_s: float = 30) -> None:
        """Wait until the cluster is no more (its get answers not_found)."""

        async def gone() -> bool:
            reply = await self.query("get", {"id": cluster_id})
            return not reply["ok"] and reply["error"]["code"] == "not_found"

        await eventually(gone, timeout_s=timeout_s, interval_s=0.1, what=f"{cluster_id} gone")


@pytest.fixture
async def bus(manager: Manager) -> AsyncIterator[Bus]:
    client = await nats.connect(manager.nats_url)
    try:
        yield Bus(client, manager)
    finally:
        await client.close()
