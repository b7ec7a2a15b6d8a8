"""Launching a simulated cluster as a child process (for the cluster-manager and tests)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import slipway_simcluster

log = logging.getLogger(__name__)

TOKEN_ENV = "SLIPWAY_SIMCLUSTER_TOKEN"
EXIT_PORT_IN_USE = 98
LOG_FILE = "simcluster.log"
LOCK_FILE = "server.lock"  # held by the serving process, see cluster.py


class SimulatedClusterError(RuntimeError):
    """The simulated cluster process failed to start."""


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True if 127.0.0.1:`port` can be bound (as the server binds it, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class SimulatedClusterProcess:
    """A simulated cluster served by a child process (`python -m slipway_simcluster serve`).

    `port` may name the previous port so that restarts keep the same address; when it is
    taken a free one is used and the kubeconfig is rewritten. Its log goes to
    `<state_dir>/simcluster.log`.
    """

    def __init__(
        self,
        name: str,
        state_dir: str | Path,
        token: str,
        kubeconfig_path: str | Path,
        kubernetes_version: str = "v1.32.0",
        port: int = 0,
        ready_delay: float = 0.5,
        docker_host: str | None = None,
        *,
        startup_timeout: float = 30.0,
        watch_history: int | None = None,
    ) -> None:
        self.name = name
        self.state_dir = Path(state_dir)
        self.token = token
        self.kubeconfig_path = Path(kubeconfig_path)
        self.kubernetes_version = kubernetes_version
        self.port = port
        self.ready_delay = ready_delay
        self.docker_host = docker_host
        self.startup_timeout = startup_timeout
        self.watch_history = watch_history
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id (None before start)."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        """Where the child's log goes."""
        return self.state_dir / LOG_FILE

    def is_alive(self) -> bool:
        """True while the child process runs."""
        return self._process is not None and self._process.poll() is None

    async def start(self) -> int:
        """Spawn the simulated cluster and wait until it listens; returns its port."""
        if self.is_alive():
            return self.port
        self.state_dir.mkdir(parents=True, exist_ok=True)
        port = self.port
        if port and not port_is_free(port):
            log.info("simulated cluster %s: port %d is taken, picking another", self.name, port)
            port = 0
        for _ in range(3):
            ready = await self._spawn_and_wait(port)
            if ready is not None:
                self.port = int(ready["port"])
                return self.port
            port = 0  # lost a race for the port: any free one will do
        raise SimulatedClusterError(f"simulated cluster {self.name}: could not find a free port")

    async def stop(self, timeout: float = 10) -> None:
        """SIGTERM (the cluster saves its state), then SIGKILL after `timeout` seconds."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, timeout)
        except subprocess.TimeoutExpired:
            log.warning("simulated cluster %s did not stop in %ss, killing it", self.name, timeout)
            process.kill()
            await asyncio.to_thread(process.wait)

    def _command(self, port: int) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "slipway_simcluster",
            "serve",
            "--name",
            self.name,
            "--state-dir",
            str(self.state_dir),
            "--port",
            str(port),
            "--kubeconfig",
            str(self.kubeconfig_path),
            "--kubernetes-version",
            self.kubernetes_version,
            "--ready-delay",
            str(self.ready_delay),
        ]
        if self.docker_host:
            command += ["--docker-host", self.docker_host]
        if self.watch_history is not None:
            command += ["--watch-history", str(self.watch_history)]
        return command

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        # The token goes through the environment, not argv, so `ps` does not show it.
        env[TOKEN_ENV] = self.token
        env["PYTHONUNBUFFERED"] = "1"
        libs_dir = str(Path(next(iter(slipway_simcluster.__path__))).resolve().parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (libs_dir, env.get("PYTHONPATH", "")) if p)
        return env

    async def _spawn_and_wait(self, port: int) -> dict[str, Any] | None:
        """Start one child; its ready line, or None if the port was taken."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[dict[str, Any]] = loop.create_future()
        _rotate(self.log_path)
        with open(self.log_path, "ab") as log_file:
            process = subprocess.Popen(
                self._command(port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_file,
                env=self._environment(),
            )
        self._process = process
        assert process.stdout is not None
        threading.Thread(
            target=_read_stdout,
            args=(process.stdout, loop, ready),
            name=f"simulated-cluster-{self.name}-stdout",
            daemon=True,
        ).start()
        try:
            return await asyncio.wait_for(ready, self.startup_timeout)
        except TimeoutError:
            process.kill()
            await asyncio.to_thread(process.wait)
            raise SimulatedClusterError(
                f"simulated cluster {self.name} did not become ready within {self.startup_timeout}s"
                f"{self._log_tail()}"
            ) from None
        except EOFError:
            code = await asyncio.to_thread(process.wait)
            if code == EXIT_PORT_IN_USE:
                return None
            raise SimulatedClusterError(
                f"simulated cluster {self.name} exited with code {code} before it was ready{self._log_tail()}"
            ) from None

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "; log:\n" + "\n".join(tail) if tail else ""


def running_server_pid(state_dir: str | Path) -> int | None:
    """The pid of a simulated cluster process serving `state_dir`, if one is running.

    Lets a restarted caller find a cluster process it started before (and stop or reuse it).
    """
    lock = Path(state_dir) / LOCK_FILE
    try:
        handle = open(lock)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = handle.read().strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


def _rotate(log_path: Path, limit: int = 10 * 1024 * 1024) -> None:
    """Keep one previous log once the log passes `limit` bytes."""
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > limit:
            os.replace(log_path, log_path.with_name(log_path.name + ".1"))


def _read_stdout(
    stream: IO[bytes], loop: asyncio.AbstractEventLoop, ready: asyncio.Future[dict[str, Any]]
) -> None:
    """Find the ready line, then keep draining stdout so the child never blocks on it."""

    def settle(result: dict[str, Any] | None) -> None:
        if ready.done():
            return
        if result is None:
            ready.set_exception(EOFError())
        else:
            ready.set_result(result)

    def notify(result: dict[str, Any] | None) -> None:
        # RuntimeError: the waiting event loop is gone; there is nobody to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result)

    for raw in stream:
        try:
            message = json.loads(raw)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("ready") is True:
            notify(message)
    notify(None)
    stream.close()


STOP_GRACE_S = 10.0


def terminate_server(pid: int, state_dir: Path, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM a simulated cluster process (it saves its state), SIGKILL it after
    `grace_s`; returns once nothing serves `state_dir` any more."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while running_server_pid(state_dir) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    if running_server_pid(state_dir) == pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while running_server_pid(state_dir) == pid and time.monotonic() < deadline:
            time.sleep(0.05)


def stop_servers_under(state_dir: Path, grace_s: float = STOP_GRACE_S) -> list[str]:
    """Stop every simulated cluster process serving a directory under
    `<state_dir>/clusters` (Slipway's SLIPWAY_STATE_DIR); returns the clusters stopped.

    For the embedded stack's Ctrl-C: clusters outlive the cluster-manager on purpose, so
    whoever owns the whole stack stops them. Their state is saved and a later start
    resumes it.
    """
    stopped: list[tuple[str, int, Path]] = []
    clusters = Path(state_dir) / "clusters"
    for directory in sorted(clusters.iterdir()) if clusters.is_dir() else []:
        pid = running_server_pid(directory)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            stopped.append((directory.name, pid, directory))
    for _, pid, directory in stopped:  # they save their state in parallel
        terminate_server(pid, directory, grace_s)
    return [name for name, _, _ in stopped]
