"""A whole Slipway stack on free loopback ports, for the integration and e2e tiers.

It uses the same launch code as `make run` (slipway_devstack): real NATS with
JetStream, a real MongoDB replica set, the Docker Engine, and each service as its own
process. As under `make run`, NATS and MongoDB ask for credentials: each process connects
as its own principal; tests connect as one with `nats_options(principal)` and to MongoDB
as its admin (`mongodb_uri`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import slipway_devstack as devstack
from slipway_devstack import credentials
from slipway_simcluster import stop_servers_under

from tests.waiting import poll

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Stack:
    state_dir: Path
    build_root: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    # Settings of one process only (principal → settings), e.g. a worker's metrics port.
    process_overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    nats_port: int = field(default_factory=devstack.free_port)
    mongo_port: int = field(default_factory=devstack.free_port)
    http_port: int = field(default_factory=devstack.free_port)
    nats: devstack.ManagedProcess | None = None
    mongod: devstack.ManagedProcess | None = None
    dockerd: devstack.ManagedProcess | None = None
    docker_host: str | None = None
    services: dict[str, devstack.ManagedProcess] = field(default_factory=dict)
    auth: bool = True

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def nkey_file(self, principal: str) -> Path:
        """The NKey seed file of a NATS principal (`admin`, `events-reader`, …)."""
        return credentials.seed_file(self.state_dir, principal)

    def nats_options(self, principal: str = "admin") -> dict[str, Any]:
        """Keyword arguments of `nats.connect` to the stack's NATS as `principal`."""
        options: dict[str, Any] = {"servers": [self.nats_url]}
        if self.auth:
            options["nkeys_seed"] = str(self.nkey_file(principal))
        return options

    @property
    def events_reader(self) -> dict[str, Any]:
        """`nats_options` of the principal that reads SLIPWAY_EVENTS, and nothing else."""
        return self.nats_options("events-reader")

    @property
    def mongodb_uri(self) -> str:
        """MongoDB as its admin (every database; tests make databases of their own)."""
        if self.auth:
            return credentials.uri_file(self.state_dir, credentials.MONGO_ADMIN).read_text().strip()
        return devstack.mongodb_uri(self.mongo_port)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def admin_token_file(self) -> Path:
        return self.state_dir / "admin.token"

    def env(self, principal: str) -> dict[str, str]:
        """The environment of the stack's process that runs as `principal`."""
        env = {
            "SLIPWAY_NATS_URL": self.nats_url,
            "SLIPWAY_MONGODB_URI": devstack.mongodb_uri(self.mongo_port),
            "SLIPWAY_PORT": str(self.http_port),
            "SLIPWAY_STATE_DIR": str(self.state_dir),
            "SLIPWAY_BUILD_ROOTS": f"{ROOT / 'examples'},{self.build_root}",
            "SLIPWAY_JOB_ACK_WAIT_S": "3",
            "SLIPWAY_RECONCILE_INTERVAL_S": "1",
            "SLIPWAY_VERIFY_INTERVAL_S": "2",
            "SLIPWAY_REQUEST_TIMEOUT_S": "5",
            "SLIPWAY_CHART_ROOTS": f"{ROOT / 'tests' / 'fixtures' / 'charts'},{ROOT / 'charts'}",
            "SLIPWAY_READY_SERVICES": ",".join(self.service_names()),
        }
        if self.docker_host:
            env["SLIPWAY_DOCKER_HOST"] = self.docker_host
        own = credentials.process_env(self.state_dir, principal, nats=self.auth, mongo=self.auth)
        return {**env, **own, **self.env_overrides, **self.process_overrides.get(principal, {})}

    def start(self) -> Stack:
        self.build_root.mkdir(parents=True, exist_ok=True)
        self.nats = devstack.start_nats(self.state_dir, self.nats_port, auth=self.auth)
        self.mongod = devstack.start_mongod(self.state_dir, self.mongo_port, auth=self.auth)
        self.docker_host, self.dockerd = devstack.ensure_docker(self.state_dir, private=True)
        if self.docker_host is None and self.dockerd is None:
            self.docker_host = os.environ.get("DOCKER_HOST")
        for name in self.service_names():
            self.start_service(name, devstack.SERVICES[name])
        self.start_service("gateway", "slipway_gateway")
        self.wait_ready()
        return self

    @staticmethod
    def service_names() -> list[str]:
        """The worker services that exist (have a runnable `__main__`), as `make run` starts them."""
        return [name for name, module in devstack.SERVICES.items() if devstack.runnable(module)]

    def start_service(self, name: str, module: str) -> devstack.ManagedProcess:
        process = devstack.service_process(name, module, self.state_dir, self.env(name))
        self.services[name] = process.start()
        return process

    def wait_ready(self, timeout_s: float = 60) -> None:
        devstack.wait_until(
            lambda: devstack.http_ok(f"{self.base_url}/readyz"), timeout_s, "Slipway"
        )

    def client(self) -> httpx.Client:
        """An HTTP client for the gateway, with the admin token once the gateway has made
        it (close it, or use it as a context manager)."""
        headers = {}
        if self.admin_token_file.exists():
            headers["Authorization"] = f"Bearer {self.admin_token_file.read_text().strip()}"
        return httpx.Client(base_url=self.base_url, timeout=30, headers=headers)

    def engine(self) -> docker.DockerClient:
        """The Docker Engine the stack builds with."""
        if self.docker_host:
            return docker.DockerClient(base_url=self.docker_host)
        return docker.from_env()

    def stop_nats(self) -> None:
        assert self.nats is not None
        self.nats.stop()

    def restart_nats(self) -> None:
        self.nats = devstack.start_nats(self.state_dir, self.nats_port, auth=self.auth)

    def stop(self) -> None:
        for process in reversed(list(self.services.values())):
            process.stop()
        stop_servers_under(self.state_dir)
        for process in (self.dockerd, self.mongod, self.nats):
            if process is not None:
                process.stop(30)


@contextmanager
def running_stack(base: Path) -> Iterator[Stack]:
    """A started stack keeping its state under `base`, stopped on the way out."""
    running = Stack(state_dir=base / "state", build_root=base / "builds")
    try:
        yield running.start()  # a start that fails half-way still stops what it started
    finally:
        running.stop()


def wait_status(
    client: httpx.Client, path: str, statuses: set[str], timeout_s: float = 60
) -> dict[str, Any]:
    """GET `path` until the entity's status is one of `statuses`; return the entity."""

    def check() -> dict[str, Any] | None:
        response = client.get(path)
        body = response.json() if response.status_code == 200 else None
        return body if body and body.get("status") in statuses else None

    return poll(check, timeout_s=timeout_s, what=f"{path} in {sorted(statuses)}")
