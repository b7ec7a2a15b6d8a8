"""The stack under test: the embedded one the bench starts, or one that runs already.

Embedded (the default): `tests.stack.Stack` on free loopback ports under a temporary
directory, with the settings `make run` gives the services (the test tier's short job,
reconcile and request timeouts are left out), authentication on, and the simulated cluster
`local` registered and started as `make run` does. It is stopped at the end.

External: set `SLIPWAY_BENCH_URL` (e.g. `http://127.0.0.1:8080` for `make run`). The other
settings default to `make run`'s files under `.slipway/`:

| variable | default | used for |
|---|---|---|
| `SLIPWAY_BENCH_TOKEN` (or `_TOKEN_FILE`) | `.slipway/admin.token` | every REST call |
| `SLIPWAY_BENCH_NATS_URL` | `nats://127.0.0.1:4222` | creates over NATS, the raw ceiling, events |
| `SLIPWAY_BENCH_NATS_SEED` | `.slipway/nats/admin.nk` | the `admin` principal |
| `SLIPWAY_BENCH_EVENTS_SEED` | `events-reader.nk` beside it | the `events-reader` principal |
| `SLIPWAY_BENCH_MONGODB_URI` (or `_URI_FILE`) | `.slipway/mongo/admin.uri` | the raw ceiling, seeding |
| `SLIPWAY_BENCH_DOCKER_HOST` | `DOCKER_HOST`, else the local engine | the plain `docker build` |
| `SLIPWAY_BENCH_CHART` | `charts/slipway` | the chart validated (inside the stack's chart roots) |

The service processes (for their memory) are found in /proc: `python -m slipway_<service>`
whose environment names the same `SLIPWAY_NATS_URL`. Every address must be on the loopback.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import slipway_devstack as devstack
from pymongo import uri_parser

from bench.settings import ROOT
from tests.stack import Stack

SERVICE_MODULES = {**devstack.SERVICES, "gateway": "slipway_gateway"}
# What the test tier shortens so that its tests run fast; the bench measures the defaults.
TEST_TUNING = (
    "SLIPWAY_JOB_ACK_WAIT_S",
    "SLIPWAY_RECONCILE_INTERVAL_S",
    "SLIPWAY_VERIFY_INTERVAL_S",
    "SLIPWAY_REQUEST_TIMEOUT_S",
)
STATE = ROOT / ".slipway"


class EmbeddedStack(Stack):
    """`tests.stack.Stack` with the environment `make run` gives each process."""

    def env(self, principal: str) -> dict[str, str]:
        env = super().env(principal)
        for name in TEST_TUNING:
            env.pop(name, None)
        env["SLIPWAY_BUILD_ROOTS"] = str(ROOT / "examples")
        env["SLIPWAY_CHART_ROOTS"] = f"{ROOT / 'charts'},{ROOT / 'examples'}"
        return env


@dataclass
class Target:
    """Where the bench sends its traffic, and as whom."""

    mode: str  # "embedded" or "external"
    base_url: str
    token: str
    nats_url: str
    admin_seed: Path | None
    events_seed: Path | None
    mongodb_uri: str
    docker_host: str | None
    chart_dir: Path
    pids: dict[str, int] = field(default_factory=dict)
    state_dir: Path | None = None

    def nats_options(self, principal: str = "admin") -> dict[str, Any]:
        """Keyword arguments of `nats.connect` as `admin` or `events-reader`."""
        seed = self.admin_seed if principal == "admin" else self.events_seed
        options: dict[str, Any] = {"servers": [self.nats_url], "connect_timeout": 5}
        if seed is not None:
            options["nkeys_seed"] = str(seed)
        return options

    def http(self, connections: int) -> httpx.AsyncClient:
        """An API client with the token and at most `connections` connections."""
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            timeout=httpx.Timeout(60.0, pool=None),
        )

    def loader(self, connections: int) -> aiohttp.ClientSession:
        """The client of the timed requests: aiohttp, with the token and at most
        `connections` connections. The bench shares the stack's cores, and aiohttp costs
        about a quarter of httpx's CPU per request (0.7 ms against 2.7 ms, seen here)."""
        return aiohttp.ClientSession(
            self.base_url,
            headers={"Authorization": f"Bearer {self.token}"},
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=60.0),
        )

    def describe(self) -> dict[str, Any]:
        """What the JSON says about the stack (no credential)."""
        return {
            "mode": self.mode,
            "base_url": self.base_url,
            "nats_url": self.nats_url,
            "docker_host": self.docker_host,
            "chart": str(self.chart_dir),
            "service_pids": self.pids,
            "state_dir": str(self.state_dir) if self.state_dir else None,
        }


def _loopback(host: str | None, what: str) -> None:
    if host in (None, "", "localhost"):
        return
    assert host is not None
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"{what} must be a loopback address (the bench sends no traffic off-host)")


def check_loopback(target: Target) -> None:
    """Refuse any address outside 127.0.0.0/8 and ::1."""
    _loopback(urlsplit(target.base_url).hostname, "SLIPWAY_BENCH_URL")
    _loopback(urlsplit(target.nats_url).hostname, "SLIPWAY_BENCH_NATS_URL")
    for host, _port in uri_parser.parse_uri(target.mongodb_uri)["nodelist"]:
        _loopback(host, "SLIPWAY_BENCH_MONGODB_URI")
    if target.docker_host and target.docker_host.startswith(("tcp://", "http://", "https://")):
        _loopback(urlsplit(target.docker_host).hostname, "SLIPWAY_BENCH_DOCKER_HOST")


def _env(name: str) -> str | None:
    return os.environ.get(f"SLIPWAY_BENCH_{name}") or None


def _secret(name: str, default_file: Path) -> str:
    """A setting given as SLIPWAY_BENCH_<name>, or read from SLIPWAY_BENCH_<name>_FILE."""
    value = _env(name)
    if value:
        return value.strip()
    path = Path(_env(f"{name}_FILE") or default_file)
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"set SLIPWAY_BENCH_{name}, or make {path} readable: {exc}") from None


def service_pids(nats_url: str) -> dict[str, int]:
    """The pid of each service process whose environment names `nats_url` (from /proc)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
            if f"SLIPWAY_NATS_URL={nats_url}".encode() not in environ:
                continue
            for name, module in SERVICE_MODULES.items():
                if b"-m" in argv and module.encode() in argv:
                    found[name] = int(entry.name)
    return found


def external_target() -> Target:
    """The stack named by SLIPWAY_BENCH_URL and its companions (see the module docstring)."""
    base_url = (_env("URL") or "").rstrip("/")
    nats_url = _env("NATS_URL") or "nats://127.0.0.1:4222"
    admin_seed = Path(_env("NATS_SEED") or STATE / "nats" / "admin.nk")
    events_seed = Path(_env("EVENTS_SEED") or admin_seed.with_name("events-reader.nk"))
    target = Target(
        mode="external",
        base_url=base_url,
        token=_secret("TOKEN", STATE / "admin.token"),
        nats_url=nats_url,
        admin_seed=admin_seed if admin_seed.exists() else None,
        events_seed=events_seed if events_seed.exists() else None,
        mongodb_uri=_secret("MONGODB_URI", STATE / "mongo" / "admin.uri"),
        docker_host=_env("DOCKER_HOST") or os.environ.get("DOCKER_HOST"),
        chart_dir=Path(_env("CHART") or ROOT / "charts" / "slipway").resolve(),
    )
    check_loopback(target)
    target.pids = service_pids(nats_url)
    return target


@contextlib.contextmanager
def embedded_target(keep_state: bool = False) -> Iterator[Target]:
    """The embedded stack on free loopback ports, stopped (and its state removed) after."""
    base = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    stack = EmbeddedStack(state_dir=base / "state", build_root=base / "builds")
    try:
        stack.start()
        devstack.wait_until(stack.admin_token_file.exists, 30, "the admin token")
        target = Target(
            mode="embedded",
            base_url=stack.base_url,
            token=stack.admin_token_file.read_text().strip(),
            nats_url=stack.nats_url,
            admin_seed=stack.nkey_file("admin"),
            events_seed=stack.nkey_file("events-reader"),
            mongodb_uri=stack.mongodb_uri,
            docker_host=stack.docker_host,
            chart_dir=ROOT / "charts" / "slipway",
            pids={name: process.pid for name, process in stack.services.items()},
            state_dir=stack.state_dir,
        )
        check_loopback(target)
        print(devstack.ensure_local_cluster(stack.base_url, token=target.token), flush=True)
        yield target
    finally:
        stack.stop()
        if not keep_state:
            shutil.rmtree(base, ignore_errors=True)
