"""The embedded stack: NATS with JetStream, a single-node MongoDB replica set, the Docker
daemon when none runs, and every Slipway service as its own process.

`make run` runs `python -m slipway_devstack`; the test fixtures use the same
functions on free loopback ports. `make run-ha` runs the same on a NATS cluster, a MongoDB
replica set and two replicas of everything (`Topology`, `slipway_devstack.ha`); `make chaos`
strikes that topology with faults (`slipway_devstack.chaos`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway_devstack import credentials, monitoring

log = logging.getLogger("slipway.devstack")
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `check` until it holds or `timeout_s` passes (then TimeoutError naming `what`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f}s")


def port_open(port: int, host: str = HOST) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def venv_binary(name: str) -> str:
    """A binary installed next to this interpreter (a wheel's), else one on PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed; run `make install`")
    return found


def mongod_binary() -> str:
    bundled = Path(sysconfig.get_paths()["purelib"]) / "fiftyone" / "db" / "bin" / "mongod"
    return str(bundled) if bundled.exists() else venv_binary("mongod")


@dataclass
class ManagedProcess:
    """A child process with its log file; restarted by the supervisor if it dies."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = False
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order
        )
        log_file.close()
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout_s: float = 15) -> None:
        stop_together([self], timeout_s)

    def kill(self) -> None:
        """SIGKILL (kill -9) the process (a supervisor may start the next one meanwhile)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)


def stop_together(processes: Sequence[ManagedProcess], timeout_s: float = 15) -> None:
    """SIGTERM every process at once, then wait for each (SIGKILL after `timeout_s`): the
    members of a replica set each take seconds to shut down."""
    running = [p.proc for p in processes if p.alive and p.proc is not None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in running:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


MAX_PAYLOAD = 8 * 1024 * 1024


@dataclass(frozen=True)
class NatsNode:
    """One server of a NATS cluster: its name (its store is `<state>/nats/<name>/`), the
    loopback port its cluster routes listen on, every server's route port, and its
    monitoring port (`GET /healthz` answers 200 once its JetStream is current)."""

    name: str
    route_port: int
    routes: tuple[int, ...]
    monitor_port: int


def _cluster_block(state_dir: Path, node: NatsNode) -> str:
    password = credentials.route_password(state_dir)
    routes = ", ".join(f'"nats-route://route:{password}@{HOST}:{p}"' for p in node.routes)
    return (
        f'server_name: "{node.name}"\n'
        f'http: "{HOST}:{node.monitor_port}"\n'
        "cluster {\n"
        '  name: "slipway"\n'
        f'  listen: "{HOST}:{node.route_port}"\n'
        f'  authorization {{ user: "route", password: "{password}" }}\n'
        f"  routes: [{routes}]\n"
        "}\n"
    )


def start_nats(
    state_dir: Path, port: int, auth: bool = False, node: NatsNode | None = None
) -> ManagedProcess:
    """nats-server with JetStream on 127.0.0.1:`port`, storing under `state_dir`. With
    `auth`, only the principals' NKeys (`<state_dir>/nats/<principal>.nk`, made once) may
    connect, each within its permissions (see `credentials`). With `node`, one server of a
    cluster (see `start_nats_cluster`)."""
    store = state_dir / "nats" / node.name if node else state_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    # Uploaded chart archives travel base64-encoded in one command message; the default
    # 1 MiB max_payload would cap them near 750 KiB. nats-server takes this only from a file.
    config = store / "nats.conf"
    text = f"max_payload: {MAX_PAYLOAD}\n"
    if auth:
        text += credentials.authorization_block(credentials.ensure_nkeys(state_dir))
    if node is not None:
        text += _cluster_block(state_dir, node)
    credentials.write_private(config, text.encode())  # a cluster's holds the route password
    name = f"nats-{node.name}" if node else "nats"
    argv = [venv_binary("nats-server"), "-c", str(config), "-js", "-a", HOST, "-p", str(port)]
    argv += ["-sd", str(store)] + ([] if node else ["-n", "slipway"])
    process = ManagedProcess(name, argv, state_dir / "logs" / f"{name}.log").start()
    wait_until(lambda: port_open(port) or not process.alive, 30, name)
    if not process.alive:
        raise RuntimeError(f"nats-server exited; see {process.log_path}")
    return process


def nats_cluster_nodes(route_ports: Sequence[int], monitor_ports: Sequence[int]) -> list[NatsNode]:
    """The servers of a NATS cluster named n1, n2, … with these route and monitoring ports."""
    routes = tuple(route_ports)
    return [
        NatsNode(f"n{i}", route, routes, monitor)
        for i, (route, monitor) in enumerate(zip(routes, monitor_ports, strict=True), start=1)
    ]


def nats_current(node: NatsNode) -> bool:
    """Whether a server of the cluster is up with its JetStream current (its `/healthz`)."""
    return http_ok(f"http://{HOST}:{node.monitor_port}/healthz")


def start_nats_cluster(
    state_dir: Path,
    ports: Sequence[int],
    route_ports: Sequence[int],
    monitor_ports: Sequence[int],
    auth: bool = False,
) -> list[ManagedProcess]:
    """A NATS cluster with JetStream, one server per port of `ports` (routes and monitoring
    on `route_ports` and `monitor_ports`, all on 127.0.0.1), returned once every server's
    JetStream is current. One port: `start_nats`."""
    if len(ports) == 1:
        return [start_nats(state_dir, ports[0], auth)]
    processes: list[ManagedProcess] = []
    try:
        nodes = nats_cluster_nodes(route_ports, monitor_ports)
        for port, node in zip(ports, nodes, strict=True):
            processes.append(start_nats(state_dir, port, auth, node))
        wait_until(lambda: all(nats_current(n) for n in nodes), 90, "the NATS cluster")
    except BaseException:
        for process in reversed(processes):
            process.stop()
        raise
    return processes


def make_streams(state_dir: Path, nats_url: str, replicas: int, timeout_s: float = 60) -> None:
    """Create the streams at `replicas` as the `admin` principal, before the services start:
    ten processes creating replicated streams at once would time out."""
    import asyncio

    import nats

    from slipway_libs.messaging import ensure_streams

    async def attempt() -> bool:
        seed = str(credentials.seed_file(state_dir, "admin"))
        try:
            nc = await nats.connect(servers=nats_url.split(","), nkeys_seed=seed)
        except Exception:  # not up yet: try again
            return False
        try:
            await ensure_streams(nc.jetstream(), replicas)
            return True
        except Exception:  # no meta leader yet: try again
            return False
        finally:
            await nc.close()

    wait_until(lambda: asyncio.run(attempt()), timeout_s, "the JetStream streams")


def mongod_process(
    state_dir: Path, port: int, replica_set: str, auth: bool, member: int | None = None
) -> ManagedProcess:
    """One mongod of replica set `replica_set` on 127.0.0.1:`port`, data in `<state>/mongo`
    (or `<state>/mongo/member-<member>` for a member of several), started and listening."""
    dbpath = state_dir / "mongo" / f"member-{member}" if member else state_dir / "mongo"
    dbpath.mkdir(parents=True, exist_ok=True)
    access = ["--keyFile", str(credentials.keyfile(state_dir))] if auth else []
    name = f"mongod-{member}" if member else "mongod"
    process = ManagedProcess(
        name,
        [
            mongod_binary(),
            "--replSet",
            replica_set,
            "--bind_ip",
            HOST,
            "--port",
            str(port),
            "--dbpath",
            str(dbpath),
            "--wiredTigerCacheSizeGB",
            "0.5" if member is None else "0.25",
            "--quiet",
            *access,
        ],
        state_dir / "logs" / f"{name}.log",
    ).start()
    wait_until(lambda: port_open(port) or not process.alive, 60, name)
    if not process.alive:
        raise RuntimeError(f"mongod exited; see {process.log_path}")
    return process


def primary_port(ports: Sequence[int]) -> int | None:
    """The port of the replica set member that is primary now (None during an election)."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    for port in ports:
        client: MongoClient[dict[str, Any]] = MongoClient(
            HOST, port, directConnection=True, serverSelectionTimeoutMS=1000
        )
        try:
            if client.admin.command("hello").get("isWritablePrimary"):
                return port
        except PyMongoError:
            continue
        finally:
            client.close()
    return None


def start_replica_set(
    state_dir: Path, ports: Sequence[int], replica_set: str = "rs0", auth: bool = False
) -> list[ManagedProcess]:
    """A MongoDB replica set, one mongod per port of `ports` (transactions need a replica set,
    even of one), initiated and with a primary. With `auth`, a keyfile turns access control
    on: an `admin` user and one user per service on its own database, their connection
    strings (every member listed) in `<state_dir>/mongo/<user>.uri` (see `credentials`)."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    several = len(ports) > 1
    processes: list[ManagedProcess] = []
    try:
        for member, port in enumerate(ports, start=1):
            processes.append(
                mongod_process(state_dir, port, replica_set, auth, member if several else None)
            )
        members = [{"_id": i, "host": f"{HOST}:{port}"} for i, port in enumerate(ports)]
        client: MongoClient[dict[str, object]] = MongoClient(HOST, ports[0], directConnection=True)
        try:
            # Refused when initiated on an earlier run (with auth: once a user exists, as the
            # localhost exception closes; the set was initiated before the first user was made).
            with contextlib.suppress(OperationFailure):
                client.admin.command("replSetInitiate", {"_id": replica_set, "members": members})
        finally:
            client.close()
        wait_until(lambda: primary_port(ports) is not None, 90, "MongoDB primary")
        if auth:
            credentials.ensure_mongo_users(state_dir, ports, replica_set)
    except BaseException:
        for process in reversed(processes):
            process.stop()
        raise
    return processes


def start_mongod(
    state_dir: Path, port: int, replica_set: str = "rs0", auth: bool = False
) -> ManagedProcess:
    """mongod as a single-node replica set on 127.0.0.1:`port` (see `start_replica_set`)."""
    return start_replica_set(state_dir, [port], replica_set, auth)[0]


def mongodb_uri(ports: int | Sequence[int], replica_set: str = "rs0") -> str:
    """The connection string of the replica set on these ports (no credentials)."""
    members = [ports] if isinstance(ports, int) else list(ports)
    return f"mongodb://{','.join(f'{HOST}:{p}' for p in members)}/?replicaSet={replica_set}"


def docker_answers(docker_host: str | None) -> bool:
    try:
        import docker

        client = (
            docker.DockerClient(base_url=docker_host, timeout=5)
            if docker_host
            else docker.from_env(timeout=5)
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def ensure_docker(state_dir: Path, private: bool) -> tuple[str | None, ManagedProcess | None]:
    """Use the Docker daemon that answers; else start one (as root, no bridge network).

    `private` starts it on a socket and data root under `state_dir` (tests); otherwise it
    takes the standard socket so `docker` on the command line sees the same engine.
    """
    env_host = os.environ.get("DOCKER_HOST")
    if docker_answers(env_host):
        return env_host, None
    if env_host:
        raise RuntimeError(f"DOCKER_HOST={env_host} does not answer")
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        log.warning(
            "no Docker daemon: image builds will fail until one runs (make install, as root)"
        )
        return None, None
    argv = [dockerd, "--bridge=none", "--iptables=false", "--ip6tables=false"]
    host = None
    if private:
        root = state_dir / "docker"
        root.mkdir(parents=True, exist_ok=True)
        sock = root / "docker.sock"
        host = f"unix://{sock}"
        argv += [
            f"--host={host}",
            f"--data-root={root / 'data'}",
            f"--exec-root={root / 'exec'}",
            f"--pidfile={root / 'docker.pid'}",
        ]
    process = ManagedProcess("dockerd", argv, state_dir / "logs" / "dockerd.log").start()
    wait_until(lambda: docker_answers(host) or not process.alive, 60, "Docker daemon")
    if not process.alive:
        raise RuntimeError(f"dockerd exited; see {process.log_path}")
    return host, process


SERVICES = {
    "image-builder": "slipway_image_builder",
    "chart-validator": "slipway_chart_validator",
    "cluster-manager": "slipway_cluster_manager",
    "workload-manager": "slipway_workload_manager",
}


def service_process(name: str, module: str, state_dir: Path, env: dict[str, str]) -> ManagedProcess:
    return ManagedProcess(
        name, [sys.executable, "-m", module], state_dir / "logs" / f"{name}.log", env, restart=True
    )


def runnable(module: str) -> bool:
    """Whether a service package has a runnable `__main__` yet."""
    import importlib.util

    with contextlib.suppress(ImportError):
        return importlib.util.find_spec(f"{module}.__main__") is not None
    return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


LOCAL_CLUSTER = {"name": "local", "driver": "sim", "cpus": 1, "memory": 1024, "disk_size": 2048}


def admin_token_file(state_dir: Path) -> Path:
    """Where the gateway keeps the embedded admin token (`SLIPWAY_ADMIN_TOKEN_FILE`)."""
    return Path(os.environ.get("SLIPWAY_ADMIN_TOKEN_FILE") or state_dir / "admin.token")


def admin_token(state_dir: Path) -> str | None:
    """The embedded admin token, once the gateway has made it (None before)."""
    with contextlib.suppress(OSError):
        return admin_token_file(state_dir).read_text().strip() or None
    return None


def _call(
    method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _local_cluster(clusters: str, token: str | None) -> dict[str, Any] | None:
    status, page = _call("GET", f"{clusters}?limit=500", token=token)
    if status != 200:
        raise RuntimeError(f"could not list clusters (HTTP {status}): {page}")
    return next((c for c in page["items"] if c["name"] == LOCAL_CLUSTER["name"]), None)


def _answers(api_server: str | None) -> bool:
    """Whether something listens at a cluster's API server URL (https://127.0.0.1:PORT)."""
    if not api_server:
        return False
    host, _, port = api_server.rpartition("//")[2].partition(":")
    return port.isdigit() and port_open(int(port), host)


def ensure_local_cluster(base_url: str, probe_wait_s: float = 30, token: str | None = None) -> str:
    """Register and start the simulated cluster `local` unless it is there already.

    A record that still says `running` from a stack that was killed (its process is
    gone) is left to the cluster-manager's health probe, which moves it to `error`;
    then it is started. Returns a line for the log. `SLIPWAY_LOCAL_CLUSTER=0` turns
    this off. `token`: the admin token the API asks for.
    """
    clusters = f"{base_url}/api/minikube-clusters"
    try:
        existing = _local_cluster(clusters, token)
        if existing is not None and existing["status"] == "running":
            if _answers(existing.get("api_server")):
                return f"cluster 'local' is running (id {existing['id']})"
            wait_until(
                lambda: (c := _local_cluster(clusters, token)) is None or c["status"] != "running",
                probe_wait_s,
                "the health probe of cluster 'local'",
            )
            existing = _local_cluster(clusters, token)
    except (RuntimeError, TimeoutError, OSError, ValueError) as error:
        return f"cluster 'local' not started: {error}"
    if existing is None:
        status, body = _call("POST", clusters, {**LOCAL_CLUSTER, "start": True}, token)
        verb = "registered and starting"
    elif existing.get("operation") is None:
        status, body = _call("POST", f"{clusters}/{existing['id']}/start", token=token)
        verb = "starting"
    else:
        return f"cluster 'local' is busy: {existing['operation']['action']} in flight"
    if status >= 300:
        return f"could not start cluster 'local' (HTTP {status}): {body.get('detail', body)}"
    return f"cluster 'local' (simulated) {verb}: {clusters}/{body['id']}"


def stop_sim_clusters(base_url: str, timeout_s: float = 30, token: str | None = None) -> None:
    """Stop the running simulated clusters through the API, so their records say
    `stopped` (not a stale `running`) when the stack comes back."""
    clusters = f"{base_url}/api/minikube-clusters"
    status, page = _call("GET", f"{clusters}?status=running&limit=500", token=token)
    if status != 200:
        return
    stopping = [c["id"] for c in page["items"] if c["driver"] == "sim" and not c["operation"]]
    for cluster_id in stopping:
        _call("POST", f"{clusters}/{cluster_id}/stop", token=token)

    def stopped() -> bool:
        states = [
            _call("GET", f"{clusters}/{cluster_id}", token=token)[1] for cluster_id in stopping
        ]
        return all(not isinstance(c, dict) or c.get("status") != "running" for c in states)

    with contextlib.suppress(TimeoutError):
        wait_until(stopped, timeout_s, "simulated clusters to stop")


def secret_key_env(state_dir: Path) -> dict[str, str]:
    """The services' secret key setting: the key file (`SLIPWAY_SECRET_KEY_FILE`, default
    `<state dir>/secret.key`) made with mode 0600 if missing, unless the key itself is set
    (`SLIPWAY_SECRET_KEY`)."""
    if os.environ.get("SLIPWAY_SECRET_KEY"):
        return {}
    from slipway_keys.secrets import KEY_FILE_NAME, ensure_key_file

    path = Path(os.environ.get("SLIPWAY_SECRET_KEY_FILE") or state_dir / KEY_FILE_NAME)
    return {"SLIPWAY_SECRET_KEY_FILE": str(ensure_key_file(path.expanduser().resolve()))}


FALSE_VALUES = ("0", "false", "no", "off", "f", "n")


def log_credentials(state_dir: Path, *, own_nats: bool, own_mongod: bool) -> None:
    """Say where the credentials are (never what they are), and warn loudly when the API
    asks for none."""
    api_open = os.environ.get("SLIPWAY_AUTH_ENABLED", "true").strip().lower() in FALSE_VALUES
    if not api_open:
        log.info("credentials: API admin token in %s", admin_token_file(state_dir))
    if own_nats:
        log.info("credentials: NATS NKey seeds in %s", credentials.seed_file(state_dir, "*"))
    if own_mongod:
        log.info(
            "credentials: MongoDB admin connection string in %s",
            credentials.uri_file(state_dir, credentials.MONGO_ADMIN),
        )
    if api_open:
        log.warning(
            "WARNING: SLIPWAY_AUTH_ENABLED is off: the API asks for no token and anyone "
            "who can reach http://%s:%s acts as admin",
            HOST,
            os.environ.get("SLIPWAY_PORT", "8080"),
        )


@dataclass(frozen=True)
class Topology:
    """Where the embedded stack's servers listen and how many of each process it runs:
    `make run` runs one of each (`single`); `make run-ha` a NATS cluster, a MongoDB replica
    set, two replicas of every service and two gateways (`slipway_devstack.ha`)."""

    nats_ports: tuple[int, ...] = (4222,)
    # With several NATS servers: each one's cluster route port and monitoring port.
    nats_route_ports: tuple[int, ...] = ()
    nats_monitor_ports: tuple[int, ...] = ()
    mongo_ports: tuple[int, ...] = (27017,)
    gateway_ports: tuple[int, ...] = (8080,)
    replicas: int = 1  # of every worker service
    stream_replicas: int = 1
    # Each worker replica serves GET /healthz on a free loopback port (`SLIPWAY_HEALTH_PORT`).
    worker_health: bool = False
    # Workers serve /metrics on `monitoring.METRICS_PORTS` (else on free loopback ports), and
    # Prometheus and Alertmanager run on 9090 and 9093 when installed.
    fixed_monitoring_ports: bool = False

    @property
    def nats_url(self) -> str:
        return ",".join(f"nats://{HOST}:{port}" for port in self.nats_ports)

    @property
    def base_urls(self) -> list[str]:
        return [f"http://{HOST}:{port}" for port in self.gateway_ports]


def single() -> Topology:
    """`make run`'s topology: one of each, the gateway on `SLIPWAY_PORT` (8080)."""
    return Topology(
        gateway_ports=(int(os.environ.get("SLIPWAY_PORT", "8080")),), fixed_monitoring_ports=True
    )


def _numbered(name: str, index: int, count: int) -> str:
    return f"{name}-{index}" if count > 1 else name


class EmbeddedStack:
    """The processes of the embedded stack on `topology`, started in order (`start`), the
    services restarted when they exit (`restart_exited`), all stopped in reverse (`stop`).
    `run` supervises one until Ctrl-C; the fault suite (`chaos`) kills and restarts parts."""

    def __init__(
        self,
        state_dir: Path,
        topology: Topology,
        env: dict[str, str] | None = None,
        private_docker: bool = False,
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.topology = topology
        self.private_docker = private_docker  # see `ensure_docker`
        # Servers given from outside are used as they are; the ones started here ask every
        # process for its own credential.
        self.own_nats = not os.environ.get("SLIPWAY_NATS_URL")
        self.own_mongod = not os.environ.get("SLIPWAY_MONGODB_URI")
        self.env: dict[str, str] = {"SLIPWAY_STATE_DIR": str(self.state_dir), **(env or {})}
        self.nats: list[ManagedProcess] = []
        self.mongods: list[ManagedProcess] = []
        self.dockerd: ManagedProcess | None = None
        self.workers: dict[str, list[ManagedProcess]] = {}
        self.gateways: list[ManagedProcess] = []
        self.gateway_ready = False
        self.monitoring = monitoring.Monitoring(self.state_dir, topology.base_urls[0])
        if not topology.fixed_monitoring_ports:
            self.monitoring.prometheus_port = free_port()
            self.monitoring.alertmanager_port = free_port()
        self.monitors: list[ManagedProcess] = []  # Prometheus and Alertmanager, when installed

    @property
    def services(self) -> list[ManagedProcess]:
        """Every worker replica and gateway: what the supervisor restarts."""
        return [p for replicas in self.workers.values() for p in replicas] + self.gateways

    def process_env(self, principal: str) -> dict[str, str]:
        own = credentials.process_env(
            self.state_dir, principal, nats=self.own_nats, mongo=self.own_mongod
        )
        return {**self.env, **own}

    def start(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """Start the servers, every service and the gateways; return once the first gateway is
        ready and the simulated cluster `local` is on its way (or `stopping()` turned true)."""
        topology, state_dir = self.topology, self.state_dir
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.env.update(secret_key_env(state_dir))
        if self.own_nats:
            log.info("starting NATS (JetStream) on %s", topology.nats_url)
            self.nats = start_nats_cluster(
                state_dir,
                topology.nats_ports,
                topology.nats_route_ports,
                topology.nats_monitor_ports,
                auth=True,
            )
            self.env["SLIPWAY_NATS_URL"] = topology.nats_url
            make_streams(state_dir, topology.nats_url, topology.stream_replicas)
        if topology.stream_replicas > 1:
            self.env.setdefault("SLIPWAY_STREAM_REPLICAS", str(topology.stream_replicas))
        if self.own_mongod:
            log.info("starting MongoDB (replica set rs0) on %s", mongodb_uri(topology.mongo_ports))
            self.mongods = start_replica_set(state_dir, topology.mongo_ports, auth=True)
            self.env["SLIPWAY_MONGODB_URI"] = mongodb_uri(topology.mongo_ports)
        docker_host, self.dockerd = ensure_docker(state_dir, private=self.private_docker)
        if self.dockerd:
            log.info("started the Docker daemon (no bridge network)")
        if docker_host:
            self.env["SLIPWAY_DOCKER_HOST"] = docker_host
        examples = str(Path("examples").resolve())
        self.env.setdefault("SLIPWAY_BUILD_ROOTS", os.environ.get("SLIPWAY_BUILD_ROOTS", examples))
        charts = f"{Path('charts').resolve()},{examples}"
        self.env.setdefault("SLIPWAY_CHART_ROOTS", os.environ.get("SLIPWAY_CHART_ROOTS", charts))
        ready = [name for name, module in SERVICES.items() if runnable(module)]
        self.env["SLIPWAY_READY_SERVICES"] = ",".join(ready)
        for name in ready:
            self.workers[name] = [
                self._worker(name, index).start() for index in range(1, topology.replicas + 1)
            ]
        self.start_monitoring()
        for index, port in enumerate(topology.gateway_ports, start=1):
            gateway_env = {
                **self.process_env("gateway"),
                **self.monitoring_env(),
                "SLIPWAY_PORT": str(port),
            }
            name = _numbered("gateway", index, len(topology.gateway_ports))
            process = service_process(name, "slipway_gateway", state_dir, gateway_env)
            self.gateways.append(process.start())
        base_url = topology.base_urls[0]

        def serving() -> bool:  # a service that exits while starting (NATS slow) starts again
            self.restart_exited(stopping)
            return stopping() or http_ok(f"{base_url}/readyz")

        wait_until(serving, 180, "Slipway")
        self.gateway_ready = not stopping()
        local = os.environ.get("SLIPWAY_LOCAL_CLUSTER", "1").strip().lower() not in FALSE_VALUES
        if self.gateway_ready and local and "cluster-manager" in ready:
            log.info("%s", ensure_local_cluster(base_url, token=admin_token(state_dir)))

    def _worker(self, name: str, index: int) -> ManagedProcess:
        env = self.process_env(name)
        if self.topology.worker_health:
            env["SLIPWAY_HEALTH_PORT"] = str(free_port())
        numbered = _numbered(name, index, self.topology.replicas)
        if os.environ.get("SLIPWAY_METRICS_PORT", "").strip() != "0":  # 0: no /metrics
            fixed = self.topology.fixed_monitoring_ports and self.topology.replicas == 1
            port = monitoring.METRICS_PORTS[name] if fixed else free_port()
            env["SLIPWAY_METRICS_PORT"] = str(port)
            self.monitoring.targets.setdefault(f"slipway-{name}", []).append(f"{HOST}:{port}")
        return service_process(numbered, SERVICES[name], self.state_dir, env)

    def monitoring_env(self) -> dict[str, str]:
        """What the gateways learn of Prometheus and Alertmanager (the webhook's secret)."""
        env = {
            "SLIPWAY_ALERTMANAGER_SECRET_FILE": str(monitoring.ensure_secret(self.state_dir)),
        }
        if self.monitors:
            env["SLIPWAY_PROMETHEUS_URL"] = self.monitoring.prometheus_url
            env["SLIPWAY_ALERTMANAGER_URL"] = self.monitoring.alertmanager_url
        return env

    def start_monitoring(self) -> None:
        """Write the Prometheus and Alertmanager configuration; start both when installed
        (and not turned off by SLIPWAY_MONITORING=0, and their ports free)."""
        self.monitoring.targets["slipway-gateway"] = [
            url.removeprefix("http://") for url in self.topology.base_urls
        ]
        prometheus_yml, _ = self.monitoring.write()
        log.info("Prometheus configuration in %s", prometheus_yml)
        wanted = os.environ.get("SLIPWAY_MONITORING", "1").strip().lower() not in FALSE_VALUES
        prometheus, alertmanager = monitoring.prometheus_binary(), monitoring.alertmanager_binary()
        if not wanted or not self.topology.fixed_monitoring_ports:
            return  # the test stacks and the fault suite (free ports): the configuration only
        if prometheus is None or alertmanager is None:
            log.info("Prometheus or Alertmanager not installed (make install as root)")
            return
        ports = (self.monitoring.prometheus_port, self.monitoring.alertmanager_port)
        if any(port_open(port) for port in ports):
            log.warning("ports %s are taken: not starting Prometheus and Alertmanager", ports)
            return
        logs = self.state_dir / "logs"
        self.monitors = [
            ManagedProcess(
                "alertmanager",
                self.monitoring.alertmanager_argv(alertmanager),
                logs / "alertmanager.log",
            ).start(),
            ManagedProcess(
                "prometheus", self.monitoring.prometheus_argv(prometheus), logs / "prometheus.log"
            ).start(),
        ]
        log.info(
            "Prometheus on %s, Alertmanager on %s",
            self.monitoring.prometheus_url,
            self.monitoring.alertmanager_url,
        )

    def restart_exited(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """Start again every service process that has exited (the supervisor's round)."""
        for process in self.services:
            if not process.alive and not stopping():
                process.restarts += 1
                log.warning("%s exited; restarting (restart %d)", process.name, process.restarts)
                process.start()

    def stop(self) -> None:
        """Stop everything started, in reverse order; simulated clusters say `stopped` after."""
        log.info("stopping Slipway")
        if self.gateway_ready:
            with contextlib.suppress(OSError, ValueError):
                token = admin_token(self.state_dir)
                stop_sim_clusters(self.topology.base_urls[0], token=token)
        for process in reversed(self.services):
            process.stop()
        stop_together(self.monitors, 15)
        # Simulated clusters outlive the cluster-manager on purpose; the stack owns them.
        from slipway_simcluster import stop_servers_under

        for name in stop_servers_under(self.state_dir):
            log.info("stopped simulated cluster %s", name)
        if self.dockerd is not None:
            self.dockerd.stop(30)
        stop_together(self.mongods, 30)
        stop_together(self.nats, 30)
        log.info("stopped")


def run(state_dir: Path, topology: Topology | None = None) -> int:
    """Bring the whole system up on `topology` (`make run`'s by default) and supervise it until
    Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s slipway: %(message)s")
    stack = EmbeddedStack(state_dir, topology or single())
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        stack.start(lambda: stopping)
        if stopping:
            return 0
        log.info(
            "Slipway is ready: %s (API docs at /docs); logs in %s; Ctrl-C stops",
            ", ".join(stack.topology.base_urls),
            stack.state_dir / "logs",
        )
        log_credentials(stack.state_dir, own_nats=stack.own_nats, own_mongod=stack.own_mongod)
        while not stopping:
            stack.restart_exited(lambda: stopping)
            time.sleep(0.5)
        return 0
    except (TimeoutError, RuntimeError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Slipway's embedded stack")
    parser.add_argument(
        "--ha",
        action="store_true",
        help="the highly available topology (make run-ha; state in .slipway-ha)",
    )
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args()
    if args.ha:
        from slipway_devstack import ha

        sys.exit(run(args.state_dir or ha.STATE_DIR, ha.TOPOLOGY))
    sys.exit(run(args.state_dir or Path(os.environ.get("SLIPWAY_STATE_DIR", ".slipway"))))
