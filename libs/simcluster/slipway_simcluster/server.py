"""Serving a simulated cluster over HTTP with uvicorn on a loopback socket."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Generator
from pathlib import Path

import uvicorn

from slipway_simcluster.api import build_app
from slipway_simcluster.cluster import ClusterConfig, SimulatedCluster
from slipway_simcluster.kubeconfig import write_kubeconfig
from slipway_simcluster.pki import ensure_certificates

HOST = "127.0.0.1"


def bind_socket(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:`port` (0 picks a free port); OSError if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn that calls back once listening and leaves signal handling to `serve`."""

    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # `serve` installs its handlers: the watches must end before uvicorn drains connections.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_listening()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # A TLS connection only closes once the peer answers close_notify, which pooled idle
        # clients never do promptly. Let responses in flight finish, then drop connections,
        # so that stopping takes milliseconds instead of the whole graceful timeout.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        while any(_busy(c) for c in self.server_state.connections) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await super().shutdown(sockets=sockets)


def _busy(connection: object) -> bool:
    """True while a uvicorn connection is in the middle of a response."""
    cycle = getattr(connection, "cycle", None)
    return cycle is not None and not getattr(cycle, "response_complete", True)


async def serve(
    config: ClusterConfig,
    sock: socket.socket,
    kubeconfig_path: Path,
    on_ready: Callable[[int], None],
) -> None:
    """Run the simulated cluster (HTTPS) on `sock` until SIGTERM/SIGINT, then save its state.

    Once listening, the kubeconfig is (re)written for the actual port and `on_ready(port)` runs.
    """
    cluster = SimulatedCluster(config)
    await cluster.start()
    try:
        certificates = ensure_certificates(config.state_dir / "pki", config.name)
    except Exception:
        await cluster.stop()
        raise
    port = sock.getsockname()[1]
    uvicorn_config = uvicorn.Config(
        build_app(cluster),
        log_config=None,
        access_log=False,
        lifespan="off",
        http="httptools",  # the C parser: a Kubernetes client's call costs less CPU
        loop="none",  # the caller's (`__main__` runs on uvloop)
        timeout_graceful_shutdown=3,
        timeout_keep_alive=30,
        ssl_certfile=str(certificates.server_cert),
        ssl_keyfile=str(certificates.server_key),
    )

    def listening() -> None:
        write_kubeconfig(kubeconfig_path, config.name, port, config.token, certificates.ca_cert)
        on_ready(port)

    server = _Server(uvicorn_config, listening)

    def request_stop() -> None:
        cluster.ready = False
        cluster.store.close_watchers()
        server.should_exit = True

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_stop)
    try:
        await server.serve(sockets=[sock])
    finally:
        try:
            await cluster.stop()  # a second SIGTERM meanwhile asks again, and cannot cut the save
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
