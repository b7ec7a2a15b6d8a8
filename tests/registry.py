"""Debian's `docker-registry` (the CNCF Distribution registry) on a free loopback port, with
its config and storage in a temporary directory; optionally behind htpasswd basic auth."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import slipway_devstack as devstack

from tests.waiting import poll


@dataclass(frozen=True)
class Registry:
    port: int
    auth: tuple[str, str] | None
    storage: Path | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def tags(self, name: str) -> list[str]:
        """`GET /v2/<name>/tags/list`: the tags the registry holds for `name`."""
        response = httpx.get(f"http://{self.host}/v2/{name}/tags/list", auth=self.auth)
        response.raise_for_status()
        return list(response.json().get("tags") or [])

    def delete(self, name: str) -> None:
        """Delete the repository `name` (its tags and manifests) from the registry's storage,
        as a registry's garbage collection would, without enabling its delete API."""
        assert self.storage is not None
        shutil.rmtree(self.storage / "docker" / "registry" / "v2" / "repositories" / name)

    def digest(self, name: str, tag: str) -> str:
        """The manifest digest the registry holds for `name:tag`."""
        accept = "application/vnd.docker.distribution.manifest.v2+json"
        response = httpx.head(
            f"http://{self.host}/v2/{name}/manifests/{tag}",
            auth=self.auth,
            headers={"Accept": accept},
        )
        response.raise_for_status()
        return str(response.headers["Docker-Content-Digest"])


@contextmanager
def running_registry(base: Path, auth: tuple[str, str] | None = None) -> Iterator[Registry]:
    """A registry serving until the block ends; skipped when docker-registry is missing."""
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (make install installs it, as root)")
    port = devstack.free_port()
    config = [
        "version: 0.1",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {base / 'data'}",
        "http:",
        f"  addr: 127.0.0.1:{port}",
    ]
    if auth is not None:
        htpasswd = shutil.which("htpasswd")
        if htpasswd is None:
            pytest.skip("htpasswd is not installed (apache2-utils; make install installs it)")
        line = subprocess.run(
            [htpasswd, "-Bbn", *auth], check=True, capture_output=True, text=True
        ).stdout.strip()
        (base / "htpasswd").write_text(line + "\n")
        config += [
            "auth:",
            "  htpasswd:",
            "    realm: slipway-test",
            f"    path: {base / 'htpasswd'}",
        ]
    (base / "config.yml").write_text("\n".join(config) + "\n")
    process = devstack.ManagedProcess(
        "registry", [binary, "serve", str(base / "config.yml")], base / "registry.log"
    ).start()
    try:
        poll(
            lambda: _answers(f"http://127.0.0.1:{port}/v2/"),
            timeout_s=30,
            what="docker-registry answers",
        )
        yield Registry(port, auth, base / "data")
    finally:
        process.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code in (200, 401)
    except httpx.TransportError:
        return False
