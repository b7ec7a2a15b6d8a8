"""The `sim` cluster driver: Slipway's simulated cluster (`slipway_simcluster`), one
process per cluster.

Files, in the cluster's `state_dir` (`<SLIPWAY_STATE_DIR>/clusters/<name>`):
`token` (the bearer token, made once, mode 0600), `kubeconfig` (written by the simulated
cluster once it listens; it carries the token and the cluster's CA), `state.json` (the
API objects, kept across stop/start), `simcluster.log`, `server.lock`.

The process outlives the cluster-manager: a restarted cluster-manager finds it again by
its state directory (`running_server_pid`) instead of starting a second one, so a
rolling restart of Slipway never stops a cluster. It stops when the cluster is stopped
or deleted, or when `slipway_simcluster.stop_servers_under` is called (the embedded stack does on Ctrl-C).

A start keeps the cluster's address: the port of the previous kubeconfig is asked for
again (another one is used only when it is taken).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docker
import httpx
import yaml
from docker.errors import DockerException, ImageNotFound
from slipway_simcluster import (
    SimulatedClusterError,
    SimulatedClusterProcess,
    running_server_pid,
    terminate_server,
)
from slipway_simcluster.client import SimulatedClusterClient

from slipway_cluster_manager.domain.ports import (
    IMAGE_NOT_FOUND,
    ClusterSpec,
    ImageTar,
    PermanentDriverError,
    ProbeResult,
    Progress,
    TemporaryDriverError,
)

TOKEN_FILE = "token"
KUBECONFIG_FILE = "kubeconfig"
DEFAULT_DOCKER_SOCKET = Path("/var/run/docker.sock")
STOP_GRACE_S = 10.0
NOT_RUNNING = "the simulated cluster process is not running (it exited or was killed)"


@dataclass(frozen=True)
class Access:
    """How to reach one simulated cluster, read from its kubeconfig."""

    server: str
    token: str
    ca_pem: bytes

    @property
    def port(self) -> int | None:
        return urlparse(self.server).port


def read_access(kubeconfig: Path) -> Access | None:
    """The server, token and CA of the kubeconfig the simulated cluster wrote (None: none yet)."""
    try:
        document: Any = yaml.safe_load(kubeconfig.read_text(encoding="utf-8"))
        context_name = document["current-context"]
        context = next(c["context"] for c in document["contexts"] if c["name"] == context_name)
        cluster = next(
            c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"]
        )
        user = next(u["user"] for u in document["users"] if u["name"] == context["user"])
        return Access(
            server=str(cluster["server"]),
            token=str(user["token"]),
            ca_pem=base64.b64decode(cluster["certificate-authority-data"]),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration, ValueError):
        return None


def read_or_make_token(state_dir: Path) -> str:
    """The cluster's bearer token: made once, kept owner-only in `<state_dir>/token`."""
    path = state_dir / TOKEN_FILE
    with contextlib.suppress(FileNotFoundError):
        token = path.read_text(encoding="ascii").strip()
        if token:
            return token
    state_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    temporary = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(token)
    os.replace(temporary, path)
    return token


def default_docker_host(configured: str | None) -> str | None:
    """The Docker Engine the simulated clusters may take images from, if there is one."""
    if configured:
        return configured
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    return f"unix://{DEFAULT_DOCKER_SOCKET}" if DEFAULT_DOCKER_SOCKET.exists() else None


class SimDriver:
    """Runs simulated clusters (see the module docstring)."""

    def __init__(
        self,
        *,
        ready_delay_s: float = 0.5,
        probe_timeout_s: float = 5.0,
        docker_host: str | None = None,
        cluster_sees_docker_images: bool = True,
    ) -> None:
        """`docker_host`: the Docker Engine images are loaded from (None: the default one);
        with `cluster_sees_docker_images` pods may also run its images without a load."""
        self.ready_delay_s = ready_delay_s
        self.probe_timeout_s = probe_timeout_s
        self.docker_host = docker_host
        self.cluster_sees_docker_images = cluster_sees_docker_images
        self._processes: dict[Path, SimulatedClusterProcess] = {}
        self._locks: dict[Path, asyncio.Lock] = {}

    def _lock(self, spec: ClusterSpec) -> asyncio.Lock:
        return self._locks.setdefault(spec.state_dir.resolve(), asyncio.Lock())

    @staticmethod
    def kubeconfig_path(spec: ClusterSpec) -> Path:
        return spec.state_dir / KUBECONFIG_FILE

    def running_pid(self, spec: ClusterSpec) -> int | None:
        """The pid of the process serving this cluster, if one runs."""
        owned = self._processes.get(spec.state_dir.resolve())
        if owned is not None and not owned.is_alive():  # reaps our own exited child
            self._processes.pop(spec.state_dir.resolve(), None)
        return running_server_pid(spec.state_dir)

    # -- the port -----------------------------------------------------------------

    async def start(self, spec: ClusterSpec, progress: Progress) -> None:
        async with self._lock(spec):
            pid = self.running_pid(spec)
            if pid is not None:
                await progress(
                    f"The simulated cluster '{spec.name}' is already running (pid {pid})"
                )
                return
            token = await asyncio.to_thread(read_or_make_token, spec.state_dir)
            previous = read_access(self.kubeconfig_path(spec))
            await progress(
                f"Starting the simulated cluster '{spec.name}' "
                f"(Kubernetes {spec.kubernetes_version}; a simulation: no containers run)"
            )
            docker_host = (
                default_docker_host(self.docker_host) if self.cluster_sees_docker_images else None
            )
            process = SimulatedClusterProcess(
                spec.name,
                spec.state_dir,
                token,
                self.kubeconfig_path(spec),
                kubernetes_version=spec.kubernetes_version,
                port=(previous.port or 0) if previous else 0,
                ready_delay=self.ready_delay_s,
                docker_host=docker_host,
            )
            try:
                port = await process.start()
            except SimulatedClusterError as error:
                raise PermanentDriverError(str(error), code="SIM_START") from None
            except BaseException:
                # Cancelled (the operation's deadline passed): leave no process behind.
                await process.stop(timeout=5)
                raise
            self._processes[spec.state_dir.resolve()] = process
            await progress(
                f"The simulated cluster '{spec.name}' is listening on https://127.0.0.1:{port} "
                f"(pid {process.pid})"
            )

    async def stop(self, spec: ClusterSpec) -> None:
        async with self._lock(spec):
            owned = self._processes.pop(spec.state_dir.resolve(), None)
            if owned is not None:
                await owned.stop(timeout=STOP_GRACE_S)
            pid = running_server_pid(spec.state_dir)
            if pid is not None:  # started by an earlier cluster-manager process
                await asyncio.to_thread(terminate_server, pid, spec.state_dir, STOP_GRACE_S)

    async def delete(self, spec: ClusterSpec) -> None:
        await self.stop(spec)
        await asyncio.to_thread(shutil.rmtree, spec.state_dir, True)
        self._locks.pop(spec.state_dir.resolve(), None)

    async def probe(self, spec: ClusterSpec) -> ProbeResult:
        if self.running_pid(spec) is None:
            return ProbeResult("stopped", NOT_RUNNING)
        access = read_access(self.kubeconfig_path(spec))
        if access is None:
            return ProbeResult(
                "error", f"the simulated cluster wrote no usable kubeconfig in {spec.state_dir}"
            )
        context = ssl.create_default_context(cadata=access.ca_pem.decode())
        try:
            async with httpx.AsyncClient(verify=context, timeout=self.probe_timeout_s) as client:
                response = await client.get(
                    f"{access.server}/readyz", headers={"Authorization": f"Bearer {access.token}"}
                )
        except httpx.HTTPError as error:
            if self.running_pid(spec) is None:  # it died while being asked: that is the cause
                return ProbeResult("stopped", NOT_RUNNING)
            return ProbeResult(
                "error",
                f"the simulated cluster's API server at {access.server} does not answer: {error!r}",
            )
        if response.status_code != 200:
            return ProbeResult(
                "error",
                f"the API server at {access.server} is not ready: /readyz answered HTTP "
                f"{response.status_code}: {response.text[:200]}",
                {"readyz": str(response.status_code)},
            )
        return ProbeResult("running", None, {"readyz": "ok"})

    async def kubeconfig(self, spec: ClusterSpec) -> str:
        try:
            return await asyncio.to_thread(self.kubeconfig_path(spec).read_text, "utf-8")
        except FileNotFoundError:
            raise PermanentDriverError(
                f"the simulated cluster '{spec.name}' has no kubeconfig yet; start it first",
                code="KUBECONFIG",
            ) from None

    async def load_image(
        self, spec: ClusterSpec, image_ref: str, image_tar: ImageTar | None = None
    ) -> None:
        kubeconfig = self.kubeconfig_path(spec)
        if read_access(kubeconfig) is None:
            raise PermanentDriverError(
                f"the simulated cluster '{spec.name}' has not been started", code="KUBECONFIG"
            )
        client = SimulatedClusterClient.from_kubeconfig(kubeconfig)
        if image_tar is not None:
            await self._upload(client, image_ref, image_tar)
            return
        with tempfile.TemporaryDirectory(prefix="image-", dir=spec.state_dir) as workdir:
            archive = Path(workdir) / "image.tar"
            await asyncio.to_thread(self._docker_save, image_ref, archive)
            await self._upload(client, image_ref, archive)

    # -- images -------------------------------------------------------------------

    async def _upload(self, client: SimulatedClusterClient, image_ref: str, tar: ImageTar) -> None:
        try:
            await client.load_images(tar)
        except httpx.HTTPStatusError as error:
            raise PermanentDriverError(
                f"the simulated cluster refused the archive of {image_ref}: "
                f"HTTP {error.response.status_code}: {error.response.text[:200]}",
                code="IMAGE_LOAD",
            ) from None
        except httpx.HTTPError as error:
            raise TemporaryDriverError(
                f"the simulated cluster did not take {image_ref}: {error!r}", code="IMAGE_LOAD"
            ) from None

    def _docker_save(self, image_ref: str, archive: Path) -> None:
        """`docker save image_ref > archive` through the Docker SDK."""
        try:
            client = (
                docker.DockerClient(base_url=self.docker_host, timeout=300)
                if self.docker_host
                else docker.from_env(timeout=300)
            )
        except DockerException as error:
            raise TemporaryDriverError(
                f"the Docker Engine is unreachable, so {image_ref} cannot be loaded: {error}",
                code="DOCKER_UNAVAILABLE",
            ) from None
        try:
            image = client.images.get(image_ref)
            with open(archive, "wb") as handle:
                for chunk in image.save(named=True):
                    handle.write(chunk)
        except ImageNotFound:
            raise PermanentDriverError(
                f"{image_ref} is not in the local Docker Engine; build it (or docker "
                "pull/load it) before loading it into the cluster",
                code=IMAGE_NOT_FOUND,
            ) from None
        except (DockerException, OSError) as error:
            raise TemporaryDriverError(
                f"docker save {image_ref} failed: {error}", code="DOCKER_UNAVAILABLE"
            ) from None
        finally:
            client.close()
