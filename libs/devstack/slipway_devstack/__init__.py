"""The embedded stack: NATS with JetStream, a single-node MongoDB replica set, the Docker
daemon when none runs, and every Slipway service as its own process.

`make run` runs `python -m slipway_devstack`; the test fixtures use the same
functions on free loopback ports.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway_devstack import credentials

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
        if not self.alive:
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(5)


MAX_PAYLOAD = 8 * 1024 * 1024


def start_nats(state_dir: Path, port: int, auth: bool = False) -> ManagedProcess:
    """nats-server with JetStream on 127.0.0.1:`port`, storing under `state_dir`. With
    `auth`, only the principals' NKeys (`<state_dir>/nats/<principal>.nk`, made once) may
    connect, each within its permissions (see `credentials`)."""
    store = state_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    # Uploaded chart archives travel base64-encoded in one command message; the default
    # 1 MiB max_payload would cap them near 750 KiB. nats-server takes this only from a file.
    config = store / "nats.conf"
    text = f"max_payload: {MAX_PAYLOAD}\n"
    if auth:
        text += credentials.authorization_block(credentials.ensure_nkeys(state_dir))
    config.write_text(text)
    process = ManagedProcess(
        "nats",
        [
            venv_binary("nats-server"),
            "-c",
            str(config),
            "-js",
            "-a",
            HOST,
            "-p",
            str(port),
            "-sd",
            str(store),
            "-n",
            "slipway",
        ],
        state_dir / "logs" / "nats.log",
    ).start()
    wait_until(lambda: port_open(port) or not process.alive, 30, "NATS")
    if not process.alive:
        raise RuntimeError(f"nats-server exited; see {process.log_path}")
    return process


def start_mongod(
    state_dir: Path, port: int, replica_set: str = "rs0", auth: bool = False
) -> ManagedProcess:
    """mongod as a single-node replica set on 127.0.0.1:`port` (transactions need one).
    With `auth`, a keyfile turns access control on: an `admin` user and one user per
    service on its own database, their connection strings in `<state_dir>/mongo/<user>.uri`
    (see `credentials`)."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    dbpath = state_dir / "mongo"
    dbpath.mkdir(parents=True, exist_ok=True)
    access = ["--keyFile", str(credentials.keyfile(state_dir))] if auth else []
    process = ManagedProcess(
        "mongod",
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
            "0.5",
            "--quiet",
            *access,
        ],
        state_dir / "logs" / "mongod.log",
    ).start()
    wait_until(lambda: port_open(port) or not process.alive, 60, "MongoDB")
    if not process.alive:
        raise RuntimeError(f"mongod exited; see {process.log_path}")
    client: MongoClient[dict[str, object]] = MongoClient(HOST, port, directConnection=True)
    try:
        config = {"_id": replica_set, "members": [{"_id": 0, "host": f"{HOST}:{port}"}]}
        # Refused when initiated on an earlier run (with auth: once a user exists, as the
        # localhost exception closes; the set was initiated before the first user was made).
        with contextlib.suppress(OperationFailure):
            client.admin.command("replSetInitiate", config)
        wait_until(
            lambda: bool(client.admin.command("hello").get("isWritablePrimary")),
            60,
            "MongoDB primary",
        )
    finally:
        client.close()
    if auth:
        try:
            credentials.ensure_mongo_users(state_dir, port, replica_set)
        except BaseException:
            process.stop()
            raise
    return process


def mongodb_uri(port: int, replica_set: str = "rs0") -> str:
    return f"mongodb://{HOST}:{port}/?replicaSet={replica_set}"


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


def run(state_dir: Path) -> int:
    """Bring the whole system up and supervise it until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s slipway: %(message)s")
    state_dir = state_dir.resolve()
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    infra: list[ManagedProcess] = []
    services: list[ManagedProcess] = []
    stopping = False
    gateway_ready = False
    port = os.environ.get("SLIPWAY_PORT", "8080")

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    env: dict[str, str] = {"SLIPWAY_STATE_DIR": str(state_dir)}
    env.update(secret_key_env(state_dir))
    # Servers given from outside are used as they are; the ones started here ask every
    # process for its own credential.
    own_nats = not os.environ.get("SLIPWAY_NATS_URL")
    own_mongod = not os.environ.get("SLIPWAY_MONGODB_URI")

    def own_env(principal: str) -> dict[str, str]:
        return {
            **env,
            **credentials.process_env(state_dir, principal, nats=own_nats, mongo=own_mongod),
        }

    try:
        if own_nats:
            log.info("starting NATS (JetStream) on %s:4222", HOST)
            infra.append(start_nats(state_dir, 4222, auth=True))
            env["SLIPWAY_NATS_URL"] = f"nats://{HOST}:4222"
        if own_mongod:
            log.info("starting MongoDB (replica set rs0) on %s:27017", HOST)
            infra.append(start_mongod(state_dir, 27017, auth=True))
            env["SLIPWAY_MONGODB_URI"] = mongodb_uri(27017)
        docker_host, dockerd = ensure_docker(state_dir, private=False)
        if dockerd:
            log.info("started the Docker daemon (no bridge network)")
            infra.append(dockerd)
        if docker_host:
            env["SLIPWAY_DOCKER_HOST"] = docker_host
        env.setdefault(
            "SLIPWAY_BUILD_ROOTS",
            os.environ.get("SLIPWAY_BUILD_ROOTS", str(Path("examples").resolve())),
        )
        charts = f"{Path('charts').resolve()},{Path('examples').resolve()}"
        env.setdefault("SLIPWAY_CHART_ROOTS", os.environ.get("SLIPWAY_CHART_ROOTS", charts))
        ready = [name for name, module in SERVICES.items() if runnable(module)]
        env["SLIPWAY_READY_SERVICES"] = ",".join(ready)
        for name in ready:
            services.append(service_process(name, SERVICES[name], state_dir, own_env(name)).start())
        gateway = ManagedProcess(
            "gateway",
            [sys.executable, "-m", "slipway_gateway"],
            state_dir / "logs" / "gateway.log",
            own_env("gateway"),
            restart=True,
        ).start()
        services.append(gateway)
        wait_until(lambda: http_ok(f"http://{HOST}:{port}/readyz") or stopping, 120, "Slipway")
        gateway_ready = not stopping
        token = admin_token(state_dir)
        if "cluster-manager" in ready and os.environ.get("SLIPWAY_LOCAL_CLUSTER", "1") not in (
            "0",
            "false",
            "no",
        ):
            log.info("%s", ensure_local_cluster(f"http://{HOST}:{port}", token=token))
        log.info(
            "Slipway is ready: http://%s:%s (API docs at /docs); logs in %s; Ctrl-C stops",
            HOST,
            port,
            state_dir / "logs",
        )
        log_credentials(state_dir, own_nats=own_nats, own_mongod=own_mongod)
        while not stopping:
            for process in services:
                if not process.alive and not stopping:
                    process.restarts += 1
                    log.warning(
                        "%s exited; restarting (restart %d)", process.name, process.restarts
                    )
                    process.start()
            time.sleep(0.5)
        return 0
    except (TimeoutError, RuntimeError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 1
    finally:
        log.info("stopping Slipway")
        if gateway_ready:
            with contextlib.suppress(OSError, ValueError):
                stop_sim_clusters(f"http://{HOST}:{port}", token=admin_token(state_dir))
        for process in reversed(services):
            process.stop()
        # Simulated clusters outlive the cluster-manager on purpose; the stack owns them.
        from slipway_simcluster import stop_servers_under

        for name in stop_servers_under(state_dir):
            log.info("stopped simulated cluster %s", name)
        for process in reversed(infra):
            process.stop(30)
        log.info("stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Slipway's embedded stack")
    parser.add_argument(
        "--state-dir", type=Path, default=Path(os.environ.get("SLIPWAY_STATE_DIR", ".slipway"))
    )
    args = parser.parse_args()
    sys.exit(run(args.state_dir))
