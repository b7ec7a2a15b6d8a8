"""Fakes of the cluster-manager's ports, and dependencies built on the in-memory repository
and unit of work: use cases run with no NATS, MongoDB, minikube or simulated cluster."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slipway_cluster_manager.domain.alert import AlertAggregate
from slipway_cluster_manager.domain.capabilities import HostCapabilities
from slipway_cluster_manager.domain.cluster import Action, ClusterAggregate
from slipway_cluster_manager.domain.ports import (
    Attachment,
    ClusterSpec,
    DriverError,
    ImageTar,
    InvalidClusterSpec,
    PermanentDriverError,
    ProbeResult,
    Progress,
)
from slipway_cluster_manager.service_layer.clusters import UNIQUE_NAME_INDEX
from slipway_cluster_manager.service_layer.dependencies import Dependencies
from slipway_cluster_manager.settings import ClusterManagerSettings
from slipway_contracts import commands, subjects
from slipway_contracts.entities import ClusterOperation
from slipway_keys.secrets import KEY_BYTES, SealedSecretError, Sealer
from slipway_libs import context
from tests.fakes import FakeProgress
from tests.memory import InMemoryRepository, InMemoryUnitOfWork

API_SERVER = "https://127.0.0.1:6443"
START_LINES = ["starting control plane", "Done! the cluster is up"]
HOST = HostCapabilities(
    cpu_cores=4, memory_total_mb=16384, memory_reserve_mb=1024, disk_free_mb=200_000
)


def kubeconfig_text(name: str, server: str = API_SERVER) -> str:
    return f"current-context: {name}\nserver: {server}\n"


class FakeDriver:
    """A cluster backend in memory. `running` holds the names of running clusters;
    `calls` records (method, cluster name); `fail` maps a method to the error it raises;
    `hold` keeps `start` waiting until it is set; `probe_result` overrides what probes see;
    `during_probe` is awaited in the middle of each probe."""

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.specs: list[ClusterSpec] = []
        self.loaded: list[tuple[str, str]] = []
        self.fail: dict[str, DriverError] = {}
        self.hold: asyncio.Event | None = None
        self.probe_result: ProbeResult | None = None
        self.during_probe: Callable[[], Awaitable[object]] | None = None

    def _call(self, method: str, spec: ClusterSpec) -> None:
        self.calls.append((method, spec.name))
        self.specs.append(spec)
        if method in self.fail:
            raise self.fail[method]

    def called(self, method: str) -> list[str]:
        return [name for called, name in self.calls if called == method]

    async def start(self, spec: ClusterSpec, progress: Progress) -> None:
        self._call("start", spec)
        for line in START_LINES:
            await progress(line)
        if self.hold is not None:
            await self.hold.wait()
        self.running.add(spec.name)

    async def stop(self, spec: ClusterSpec) -> None:
        self._call("stop", spec)
        self.running.discard(spec.name)

    async def delete(self, spec: ClusterSpec) -> None:
        self._call("delete", spec)
        self.running.discard(spec.name)

    async def probe(self, spec: ClusterSpec) -> ProbeResult:
        self._call("probe", spec)
        if self.during_probe is not None:
            await self.during_probe()
        if self.probe_result is not None:
            return self.probe_result
        if spec.name in self.running:
            return ProbeResult("running")
        return ProbeResult("stopped", components={"Host": "Stopped", "APIServer": "Stopped"})

    async def kubeconfig(self, spec: ClusterSpec) -> str:
        self._call("kubeconfig", spec)
        return spec.kubeconfig_data or kubeconfig_text(spec.name)

    async def load_image(
        self, spec: ClusterSpec, image_ref: str, image_tar: ImageTar | None = None
    ) -> None:
        self._call("load_image", spec)
        self.loaded.append((spec.name, image_ref))


class FakeKubeconfigs:
    """Kubeconfig files by path: `files[path] = [context names]` (the first is current)."""

    DEFAULT = "/home/me/.kube/config"

    def __init__(self) -> None:
        self.files: dict[str, list[str]] = {}

    def attachment(self, kubeconfig: str | None, context: str | None) -> Attachment:
        path = kubeconfig or self.DEFAULT
        if path not in self.files:
            raise InvalidClusterSpec("kubeconfig", f"kubeconfig {path} does not exist")
        contexts = self.files[path]
        chosen = context or contexts[0]
        if chosen not in contexts:
            raise InvalidClusterSpec("context", f"the kubeconfig has no context named {chosen!r}")
        return Attachment(kubeconfig=path, context=chosen)

    def inline_context(self, content: str, context: str | None) -> str:
        """Content in the form of `kubeconfig_text`; `broken` in it is not a kubeconfig."""
        if "broken" in content:
            raise InvalidClusterSpec("kubeconfig_data", "the kubeconfig is not valid YAML")
        current = content.splitlines()[0].removeprefix("current-context: ")
        if context is not None and context != current:
            raise InvalidClusterSpec("context", f"the kubeconfig has no context named {context!r}")
        return current

    def api_server(self, kubeconfig: str) -> str | None:
        for line in kubeconfig.splitlines():
            if line.startswith("server: "):
                return line.removeprefix("server: ")
        return None


class FakeCredentials:
    """Clusters' credentials sealed with a real Sealer in `rows` (cluster id -> token),
    written when the open unit of work commits, as MongoDB's are."""

    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow
        self.sealer = Sealer(os.urandom(KEY_BYTES))
        self.rows: dict[str, str] = {}

    async def keep_kubeconfig(self, cluster_id: str, kubeconfig: str) -> None:
        sealed = self.sealer.seal(kubeconfig.encode(), cluster_id.encode())
        self.uow.at_commit(functools.partial(self.rows.__setitem__, cluster_id, sealed))

    async def kubeconfig(self, cluster_id: str) -> str:
        if cluster_id not in self.rows:
            raise PermanentDriverError(
                f"no kubeconfig is kept for cluster {cluster_id}", code="CREDENTIALS"
            )
        try:
            return self.sealer.open_sealed(self.rows[cluster_id], cluster_id.encode()).decode()
        except SealedSecretError as error:
            raise PermanentDriverError(
                f"the kubeconfig kept for cluster {cluster_id} cannot be opened: {error}",
                code="CREDENTIALS",
            ) from None

    async def forget(self, cluster_id: str) -> None:
        self.uow.at_commit(functools.partial(self.rows.pop, cluster_id, None))


class Parts:
    """Dependencies on fakes and handles on the fakes themselves. Every use case shares
    one InMemoryUnitOfWork: `uow.events`, `uow.jobs`, `uow.replies`."""

    def __init__(self, state_dir: Path, **settings: object) -> None:
        self.uow = InMemoryUnitOfWork()
        self.clusters = InMemoryRepository(
            ClusterAggregate,
            subjects.MINIKUBE_CLUSTER,
            deadline_field="operation.deadline",
            unique={UNIQUE_NAME_INDEX: "name"},
        )
        self.driver = FakeDriver()
        self.kubeconfigs = FakeKubeconfigs()
        self.credentials = FakeCredentials(self.uow)
        self.progress = FakeProgress()
        self.host = HOST
        self.alerts = InMemoryRepository(AlertAggregate, subjects.ALERT)
        self.deps = Dependencies(
            settings=ClusterManagerSettings(state_dir=state_dir, **settings),  # type: ignore[arg-type]
            uow=self.uow,
            clusters=self.clusters,
            drivers={"sim": self.driver, "minikube": self.driver, "kubeconfig": self.driver},
            host=self.current_host,
            kubeconfigs=self.kubeconfigs,
            credentials=self.credentials,
            progress=self.progress,
            alerts=self.alerts,
        )

    def current_host(self) -> HostCapabilities:
        return self.host

    def events(self) -> list[str]:
        """The committed events' names, in order (`created`, `running`, ...)."""
        prefix = subjects.event(subjects.MINIKUBE_CLUSTER, "")
        return [subject.removeprefix(prefix) for subject in self.uow.event_types()]

    async def stored(self, cluster_id: str) -> ClusterAggregate:
        return await self.clusters.get(cluster_id)

    def put(
        self,
        name: str = "demo",
        *,
        driver: str = "sim",
        status: str = "stopped",
        operation: Action | None = None,
        deadline: datetime | None = None,
        **spec: object,
    ) -> ClusterAggregate:
        """Store a cluster as committed (no events) in `status`, with `operation` in flight
        (deadline in ten minutes unless given); a running one runs in the driver too."""
        cluster = ClusterAggregate.register(
            commands.ClusterSpec.model_validate({"name": name, "driver": driver, **spec}),
            cluster_id=context.new_id(),
        )
        if status != "stopped":
            cluster.transition(status, api_server=API_SERVER if status == "running" else None)
        if status == "running":
            self.driver.running.add(name)
        if operation is not None:
            started = datetime.now(UTC)
            cluster.update(
                operation=ClusterOperation(
                    id=context.new_id(),
                    action=operation,
                    started_at=started,
                    deadline=deadline or started + timedelta(minutes=10),
                )
            )
        return self.clusters.put(cluster)
