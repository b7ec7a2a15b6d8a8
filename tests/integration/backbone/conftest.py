"""NATS and MongoDB started as the embedded stack starts them, credentials required: one
NKey per principal, one MongoDB user per service (module-scoped, on free loopback ports)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import slipway_devstack as devstack
from slipway_devstack import credentials


@dataclass
class SecuredServers:
    state_dir: Path
    nats_port: int = field(default_factory=devstack.free_port)
    mongo_port: int = field(default_factory=devstack.free_port)
    nats: devstack.ManagedProcess | None = None
    mongod: devstack.ManagedProcess | None = None

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def seed(self, principal: str) -> Path:
        return credentials.seed_file(self.state_dir, principal)

    def nats_options(self, principal: str, **extra: Any) -> dict[str, Any]:
        """Keyword arguments of `nats.connect` as `principal` (no reconnecting)."""
        return {
            "servers": [self.nats_url],
            "nkeys_seed": str(self.seed(principal)),
            "allow_reconnect": False,
            **extra,
        }

    def mongodb_uri(self, user: str = credentials.MONGO_ADMIN) -> str:
        return credentials.uri_file(self.state_dir, user).read_text().strip()

    def start(self) -> SecuredServers:
        self.nats = devstack.start_nats(self.state_dir, self.nats_port, auth=True)
        self.mongod = devstack.start_mongod(self.state_dir, self.mongo_port, auth=True)
        return self

    def stop(self) -> None:
        for process in (self.mongod, self.nats):
            if process is not None:
                process.stop(30)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredServers]:
    servers = SecuredServers(tmp_path_factory.mktemp("secured"))
    try:
        yield servers.start()
    finally:
        servers.stop()
