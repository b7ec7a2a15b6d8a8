"""Which container images the simulated cluster can run.

An image is available when it was loaded into the simulated cluster (a `docker save` tar
posted to `/simulated/v1/images/load`, like `minikube image load`) or, when the cluster was
started with a Docker host, when the local Docker Engine has it. An image named with a
loopback registry host (`127.0.0.1:<port>/team/app@sha256:…`) is pulled from that registry
instead, as a node would: its manifest is fetched over the Registry HTTP API, and the
registry's error is the pull error. Registries off the loopback are never contacted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slipway_simcluster.meta import now_rfc3339

log = logging.getLogger(__name__)

_DOCKER_CACHE_SECONDS = 2.0
_PULL_TIMEOUT_SECONDS = 10.0
_LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")
_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


class ImagePullError(Exception):
    """The registry refused or could not serve the image; the message is its answer."""


def registry_location(reference: str) -> tuple[str, str, str] | None:
    """(registry host, repository path, tag or digest) of a reference naming a loopback
    registry; None for any other reference (Docker Hub, a remote registry, a bare name)."""
    normalized = normalize_reference(reference)
    name, at, digest = normalized.partition("@")
    host, _, path = name.partition("/")
    if not host.startswith(_LOOPBACK_HOSTS):
        return None
    if at:
        return host, path.rsplit(":", 1)[0] if ":" in path else path, digest
    path, tag = path.rsplit(":", 1)
    return host, path, tag


class ImageArchiveError(ValueError):
    """The uploaded body is not a `docker save` archive with tagged images."""


def normalize_reference(reference: str) -> str:
    """Canonical form of an image reference: `nginx` -> `docker.io/library/nginx:latest`."""
    reference = reference.strip()
    name, _, digest = reference.partition("@")
    last_slash = name.rfind("/")
    tag = ""
    if ":" in name[last_slash + 1 :]:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = "docker.io", name
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = f"library/{path}"
    if digest:
        return f"{domain}/{path}{':' + tag if tag else ''}@{digest}"
    return f"{domain}/{path}:{tag or 'latest'}"


@dataclass
class LoadedImage:
    """An image loaded into the simulated cluster."""

    name: str
    id: str
    loadedAt: str


def read_image_archive(path: Path) -> list[tuple[str, str]]:
    """The (tag, image id) pairs in a `docker save` tar; ImageArchiveError if there are none."""
    try:
        with tarfile.open(path, mode="r:*") as archive:
            manifest = _read_json_member(archive, "manifest.json")
            pairs: list[tuple[str, str]] = []
            if isinstance(manifest, list):
                for entry in manifest:
                    config = str(entry.get("Config", ""))
                    image_id = "sha256:" + Path(config).name.removesuffix(".json") if config else ""
                    for tag in entry.get("RepoTags") or []:
                        pairs.append((str(tag), image_id))
            if not pairs:
                # OCI layout archives name their images in index.json annotations.
                index = _read_json_member(archive, "index.json")
                for entry in (index or {}).get("manifests", []) if isinstance(index, dict) else []:
                    annotations = entry.get("annotations") or {}
                    tag = annotations.get("io.containerd.image.name")
                    if tag:
                        pairs.append((str(tag), str(entry.get("digest", ""))))
    except (tarfile.TarError, OSError, EOFError) as error:
        raise ImageArchiveError(f"not a docker save tar archive: {error}") from None
    if not pairs:
        raise ImageArchiveError("the archive holds no tagged image (manifest.json RepoTags)")
    return pairs


def _read_json_member(archive: tarfile.TarFile, name: str) -> Any:
    try:
        member = archive.getmember(name)
    except KeyError:
        return None
    handle = archive.extractfile(member)
    if handle is None:
        return None
    try:
        return json.loads(handle.read())
    except ValueError:
        raise ImageArchiveError(f"{name} in the archive is not valid JSON") from None


class ImageRegistry:
    """The images loaded into the simulated cluster, plus an optional Docker Engine lookup."""

    def __init__(
        self, docker_host: str | None = None, on_change: Callable[[], None] | None = None
    ) -> None:
        self.docker_host = docker_host
        self._loaded: dict[str, LoadedImage] = {}
        self._on_change = on_change or (lambda: None)
        self._loaded_signal = asyncio.Event()
        self._docker_client: Any = None
        self._docker_cache: dict[str, tuple[float, bool]] = {}
        self._docker_warned = False
        self._pulled: dict[str, str] = {}

    def loaded(self) -> list[LoadedImage]:
        """Every loaded image, by name."""
        return sorted(self._loaded.values(), key=lambda image: image.name)

    def add(self, pairs: list[tuple[str, str]]) -> list[LoadedImage]:
        """Record loaded (tag, id) pairs and wake pods waiting on an image pull."""
        added = []
        for tag, image_id in pairs:
            image = LoadedImage(name=tag, id=image_id, loadedAt=now_rfc3339())
            self._loaded[normalize_reference(tag)] = image
            added.append(image)
        self._on_change()
        # Swap the event so that waiters wake once and later waiters wait afresh.
        signal, self._loaded_signal = self._loaded_signal, asyncio.Event()
        signal.set()
        return added

    def find_loaded(self, reference: str) -> LoadedImage | None:
        """The loaded image this reference names, if any."""
        return self._loaded.get(normalize_reference(reference))

    async def is_available(self, reference: str) -> bool:
        """True if the image was loaded, or the configured Docker Engine has it."""
        if self.find_loaded(reference) is not None:
            return True
        if not self.docker_host:
            return False
        cached = self._docker_cache.get(reference)
        if cached is not None and time.monotonic() - cached[0] < _DOCKER_CACHE_SECONDS:
            return cached[1]
        present = await asyncio.to_thread(self._docker_has, reference)
        self._docker_cache[reference] = (time.monotonic(), present)
        return present

    def was_pulled(self, reference: str) -> bool:
        """True if a registry served this reference to the node already."""
        return normalize_reference(reference) in self._pulled

    async def pull(self, reference: str, authorization: str | None = None) -> str:
        """Pull a loopback registry's image (its manifest), with the `Authorization` header
        of the pod's pull secret when it has one; the digest the registry serves.
        ImagePullError with the registry's answer when it cannot."""
        location = registry_location(reference)
        if location is None:
            raise ImagePullError(f"{reference} names no loopback registry")
        digest = await asyncio.to_thread(_fetch_manifest, *location, authorization)
        self._pulled[normalize_reference(reference)] = digest
        return digest

    async def wait_for_load(self, timeout: float) -> bool:
        """Wait until an image is loaded (True) or `timeout` seconds pass (False)."""
        try:
            await asyncio.wait_for(self._loaded_signal.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _docker_has(self, reference: str) -> bool:
        # Imported here: the docker SDK is only needed when a Docker host was given.
        import docker
        from docker.errors import DockerException, ImageNotFound

        try:
            if self._docker_client is None:
                self._docker_client = docker.DockerClient(base_url=self.docker_host, timeout=5)
            self._docker_client.images.get(reference)
            return True
        except ImageNotFound:
            return False
        except (DockerException, OSError) as error:
            if not self._docker_warned:
                log.warning(
                    "simulated cluster: Docker Engine at %s unavailable: %s",
                    self.docker_host,
                    error,
                )
                self._docker_warned = True
            self._docker_client = None
            return False

    def snapshot(self) -> list[dict[str, str]]:
        """Loaded images, JSON-serialisable."""
        return [asdict(image) for image in self.loaded()]

    def restore(self, images: list[dict[str, Any]]) -> None:
        """Reload images recorded by `snapshot`."""
        for entry in images:
            if isinstance(entry, dict) and entry.get("name"):
                image = LoadedImage(
                    name=str(entry["name"]),
                    id=str(entry.get("id", "")),
                    loadedAt=str(entry.get("loadedAt", "")),
                )
                self._loaded[normalize_reference(image.name)] = image


def _fetch_manifest(host: str, path: str, reference: str, authorization: str | None) -> str:
    """`GET /v2/<path>/manifests/<reference>` on a loopback registry; the manifest digest."""
    headers = {"Accept": _MANIFEST_TYPES}
    if authorization:
        headers["Authorization"] = authorization
    request = urllib.request.Request(
        f"http://{host}/v2/{path}/manifests/{reference}", headers=headers
    )
    try:
        # Straight to the loopback registry: no proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=_PULL_TIMEOUT_SECONDS) as response:
            response.read()
            return str(response.headers.get("Docker-Content-Digest") or reference)
    except urllib.error.HTTPError as error:
        raise ImagePullError(
            f'failed to resolve reference "{host}/{path}": {host} answered '
            f"{error.code}: {_registry_message(error)}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ImagePullError(f"failed to reach registry {host}: {reason}") from None


def _registry_message(error: urllib.error.HTTPError) -> str:
    """The registry's own error (`{"errors": [{"code", "message"}]}`), else the HTTP reason."""
    try:
        errors = json.loads(error.read() or b"{}").get("errors") or []
    except (ValueError, OSError, AttributeError):
        errors = []
    named = [f"{e.get('message')} ({e.get('code')})" for e in errors if isinstance(e, dict)]
    return "; ".join(named) or str(error.reason)


def pull_authorization(secrets: list[dict[str, Any]], host: str) -> str | None:
    """The basic `Authorization` header for `host` from a pod's image pull secrets
    (`kubernetes.io/dockerconfigjson`: `{"auths": {host: {"auth"} | {"username",
    "password"}}}`), the first that names the host; None when none does."""
    for secret in secrets:
        if secret.get("type") != "kubernetes.io/dockerconfigjson":
            continue
        encoded = (secret.get("data") or {}).get(".dockerconfigjson", "")
        try:
            config = json.loads(base64.b64decode(encoded))
        except (ValueError, TypeError):
            continue
        entry = (config.get("auths") or {}).get(host) if isinstance(config, dict) else None
        if not isinstance(entry, dict):
            continue
        auth = entry.get("auth")
        if not auth and entry.get("username"):
            pair = f"{entry['username']}:{entry.get('password', '')}".encode()
            auth = base64.b64encode(pair).decode()
        if auth:
            return f"Basic {auth}"
    return None
