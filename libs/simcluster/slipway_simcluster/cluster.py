"""The simulated cluster itself: state, controllers and persistence wired together."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import platform
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from slipway_simcluster import networking
from slipway_simcluster.controller import ControllerManager
from slipway_simcluster.events import EventRecorder
from slipway_simcluster.images import ImageRegistry
from slipway_simcluster.kubelet import Kubelet
from slipway_simcluster.meta import now_rfc3339
from slipway_simcluster.openapi import OpenApi
from slipway_simcluster.persistence import SnapshotWriter, read_snapshot
from slipway_simcluster.registry import PROTECTED_NAMESPACES, Registry
from slipway_simcluster.resources import NAMESPACES, NODES, STORAGE_CLASSES
from slipway_simcluster.schema import Types
from slipway_simcluster.store import Store, WatchEvent
from slipway_simcluster.volumes import default_storage_class

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
LOCK_FILE = "server.lock"
SNAPSHOT_FORMAT = 1


class StateDirLocked(RuntimeError):
    """Another simulated cluster process is serving this state directory."""


@dataclass(frozen=True)
class ClusterConfig:
    """How a simulated cluster runs."""

    name: str
    state_dir: Path
    token: str
    kubernetes_version: str = "v1.32.0"
    ready_delay: float = 0.5
    docker_host: str | None = None
    watch_history: int = 10_000
    save_debounce: float = 0.25


class SimulatedCluster:
    """One simulated Kubernetes cluster: API objects, simulated node and controllers."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.store = Store(history_size=config.watch_history)
        self.types = Types(config.kubernetes_version)
        self.registry = Registry(self.store, self.types)
        self.openapi = OpenApi(self.store.catalog, self.types)
        self.images = ImageRegistry(config.docker_host, on_change=self._mark_dirty)
        self.recorder = EventRecorder(self.store, host=config.name)
        self.kubelet = Kubelet(
            self.store, self.images, self.recorder, config.name, config.ready_delay
        )
        self.controllers = ControllerManager(
            self.store,
            self.registry,
            self.recorder,
            self.kubelet,
            lambda: self.tunnel_enabled,
            node_name=config.name,
            types=self.types,
        )
        self.tunnel_enabled = False
        self.ready = False
        self._writer: SnapshotWriter | None = None
        self._lock_handle: IO[str] | None = None

    @property
    def state_file(self) -> Path:
        """Where the snapshot lives."""
        return self.config.state_dir / STATE_FILE

    async def start(self) -> None:
        """Lock the state directory, reload the snapshot, start the simulated controllers."""
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_state_dir()
        snapshot = read_snapshot(self.state_file)
        if snapshot is not None:
            self.store.restore(snapshot.get("store") or {})
            self.images.restore(snapshot.get("images") or [])
            self.tunnel_enabled = bool(snapshot.get("tunnel", False))
            log.info(
                "simulated cluster %s: state reloaded (resourceVersion %s)",
                self.config.name,
                self.store.resource_version,
            )
        self._writer = SnapshotWriter(
            self.state_file, self.snapshot_json, self.config.save_debounce
        )
        self.store.add_listener(self.kubelet.on_event)
        self.store.add_listener(self.controllers.on_event)
        self.store.add_listener(self._on_change)
        self._bootstrap()
        self.recorder.reindex()
        self.kubelet.start()
        self.controllers.start()
        self.ready = True

    async def stop(self) -> None:
        """End watches, stop controllers, save the state and release the directory."""
        self.ready = False
        self.store.close_watchers()
        await self.controllers.stop()
        await self.kubelet.stop()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._lock_handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def set_tunnel(self, enabled: bool) -> None:
        """Switch the simulated `minikube tunnel`: LoadBalancer Services get 127.0.0.1."""
        self.tunnel_enabled = enabled
        self._mark_dirty()
        self.controllers.resync_services()

    def snapshot(self) -> dict[str, Any]:
        """The whole persistent state, JSON-serialisable."""
        return {**self._snapshot_header(), "store": self.store.snapshot()}

    def snapshot_json(self) -> bytes:
        """`snapshot()` as compact JSON, the store's objects encoded incrementally."""
        head = json.dumps(self._snapshot_header(), separators=(",", ":")).encode()
        return head[:-1] + b',"store":' + self.store.snapshot_json() + b"}"

    def _snapshot_header(self) -> dict[str, Any]:
        return {
            "format": SNAPSHOT_FORMAT,
            "cluster": self.config.name,
            "savedAt": now_rfc3339(),
            "images": self.images.snapshot(),
            "tunnel": self.tunnel_enabled,
        }

    def version_info(self) -> dict[str, str]:
        """The `/version` document."""
        version = self.config.kubernetes_version
        if not version.startswith("v"):
            version = f"v{version}"
        numbers = version[1:].split(".")
        return {
            "major": numbers[0] if numbers else "1",
            "minor": numbers[1] if len(numbers) > 1 else "0",
            "gitVersion": version,
            "gitCommit": "simulated",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "simulated",
            "compiler": "gc",
            "platform": f"linux/{_architecture()}",
        }

    def _on_change(self, event: WatchEvent) -> None:
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        if self._writer is not None:
            self._writer.mark_dirty()

    def _lock_state_dir(self) -> None:
        handle = open(self.config.state_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StateDirLocked(
                f"another simulated cluster process is using {self.config.state_dir}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle

    def _bootstrap(self) -> None:
        """Create what every cluster has: the system namespaces, the node and (as minikube)
        the default StorageClass `standard`."""
        for name in sorted(PROTECTED_NAMESPACES):
            if self.store.peek(NAMESPACES, "", name) is None:
                self.registry.create(NAMESPACES, None, {"metadata": {"name": name}})
        if not self.store.objects(STORAGE_CLASSES):
            self.store.create(STORAGE_CLASSES, default_storage_class())
        node = self._node()
        current = self.store.peek(NODES, "", self.config.name)
        if current is None:
            self.store.create(NODES, node)
        elif (current.get("status") or {}).get("nodeInfo") != node["status"]["nodeInfo"]:
            updated = dict(current)
            updated["status"] = node["status"]
            self.store.replace(NODES, updated)

    def _node(self) -> dict[str, Any]:
        name = self.config.name
        version = self.version_info()["gitVersion"]
        arch = _architecture()
        resources = {
            "cpu": str(os.cpu_count() or 1),
            "memory": f"{_memory_kib()}Ki",
            "pods": "1000",
            "ephemeral-storage": "100Gi",
        }
        now = now_rfc3339()
        conditions = [
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            (
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
            ("Ready", "True", "KubeletReady", "simulated kubelet is posting ready status"),
        ]
        return {
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.io/arch": arch,
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "node-role.kubernetes.io/control-plane": "",
                    "slipway.io/simulated": "true",
                },
            },
            "spec": {"podCIDR": str(networking.POD_CIDR), "podCIDRs": [str(networking.POD_CIDR)]},
            "status": {
                "capacity": resources,
                "allocatable": dict(resources),
                "conditions": [
                    {
                        "type": kind,
                        "status": status,
                        "reason": reason,
                        "message": message,
                        "lastHeartbeatTime": now,
                        "lastTransitionTime": now,
                    }
                    for kind, status, reason, message in conditions
                ],
                "addresses": [
                    {"type": "InternalIP", "address": networking.NODE_IP},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "architecture": arch,
                    "bootID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"boot:{name}")),
                    "containerRuntimeVersion": "docker://simulated",
                    "kernelVersion": platform.release(),
                    "kubeProxyVersion": version,
                    "kubeletVersion": version,
                    "machineID": uuid.uuid5(uuid.NAMESPACE_URL, f"machine:{name}").hex,
                    "operatingSystem": "linux",
                    "osImage": "Slipway simulated node",
                    "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"system:{name}")),
                },
            },
        }


def _architecture() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine or "amd64")


def _memory_kib() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 4 * 1024 * 1024
