"""Fixtures for the cluster drivers: the minikube stand-in and a loopback API server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from slipway_cluster_manager.adapters.minikube import MinikubeDriver
from slipway_cluster_manager.domain.ports import ClusterSpec

STANDIN = Path(__file__).resolve().parents[2] / "fixtures" / "minikube-standin" / "minikube"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "minikube: runs the real minikube CLI (skipped when none is on PATH)"
    )


@dataclass
class StandIn:
    """A minikube stand-in home: drivers built from it share its profiles."""

    home: Path
    clusters: Path

    def driver(self, **env: str) -> MinikubeDriver:
        """A driver using the stand-in, with knobs (MINIKUBE_STANDIN_*) from `env`."""
        return MinikubeDriver(
            executable=str(STANDIN),
            minikube_home=self.home,
            extra_env={"MINIKUBE_STANDIN_HOST_CPUS": "4", **env},
        )

    def spec(self, name: str = "demo", **changes: object) -> ClusterSpec:
        values: dict[str, object] = {
            "name": name,
            "driver": "minikube",
            "cpus": 2,
            "memory_mb": 4096,
            "disk_size_mb": 20000,
            "kubernetes_version": "v1.30.2",
            "state_dir": self.clusters / name,
            "extra": {},
        }
        values.update(changes)
        return ClusterSpec(**values)  # type: ignore[arg-type]

    def invocations(self) -> list[list[str]]:
        log = self.home / "invocations.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]

    def profile_state(self, name: str = "demo") -> dict[str, object]:
        path = self.home / ".minikube" / "profiles" / name / "standin-state.json"
        return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.fixture
def standin(tmp_path: Path) -> StandIn:
    return StandIn(home=tmp_path / "minikube-home", clusters=tmp_path / "clusters")


@dataclass
class FakeApiServer:
    """A tiny real HTTP server on loopback answering like a Kubernetes API server."""

    url: str = ""
    routes: dict[str, tuple[int, str]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    hang: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def api_server() -> Iterator[FakeApiServer]:
    state = FakeApiServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            state.requests.append((self.path, self.headers.get("Authorization")))
            if state.hang.is_set():
                state.release.wait(timeout=30)
            status, body = state.routes.get(self.path, (404, '{"kind":"Status","code":404}'))
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def write_kubeconfig(tmp_path: Path) -> Callable[..., Path]:
    """Writes a kubeconfig whose contexts point at the given servers."""

    def write(contexts: dict[str, str], current: str | None = None, token: str = "t0ken") -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": current or next(iter(contexts)),
            "clusters": [{"name": n, "cluster": {"server": url}} for n, url in contexts.items()],
            "users": [{"name": f"{n}-user", "user": {"token": token}} for n in contexts],
            "contexts": [
                {"name": n, "context": {"cluster": n, "user": f"{n}-user"}} for n in contexts
            ],
        }
        path = tmp_path / "attached-kubeconfig"
        path.write_text(json.dumps(document))
        return path

    return write
