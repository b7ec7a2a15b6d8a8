"""Client for the simulated cluster's own endpoints (`/simulated/v1`): image load and tunnel.

Everything else is the Kubernetes API: use the official `kubernetes` client with the
cluster's kubeconfig.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

import httpx
import yaml


class SimulatedClusterClient:
    """Talks to one simulated cluster with the server, token and CA of its kubeconfig."""

    def __init__(self, server: str, token: str, ca_pem: bytes, timeout: float = 300.0) -> None:
        self.server = server.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._ssl = ssl.create_default_context(cadata=ca_pem.decode())
        self._timeout = timeout

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> SimulatedClusterClient:
        """Build from a kubeconfig written by the simulated cluster (its current context)."""
        document = yaml.safe_load(Path(path).read_text())
        context_name = document["current-context"]
        context = next(c["context"] for c in document["contexts"] if c["name"] == context_name)
        cluster = next(
            c["cluster"] for c in document["clusters"] if c["name"] == context["cluster"]
        )
        user = next(u["user"] for u in document["users"] if u["name"] == context["user"])
        ca_pem = base64.b64decode(cluster["certificate-authority-data"])
        return cls(cluster["server"], user["token"], ca_pem)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.server, headers=self._headers, verify=self._ssl, timeout=self._timeout
        )

    async def load_images(self, archive: bytes | Path | AsyncIterable[bytes]) -> list[str]:
        """Load a `docker save` tar (like `minikube image load`); returns the loaded tags.

        Raises httpx.HTTPStatusError (400) when the body is not an image archive.
        """
        async with self._client() as client:
            if isinstance(archive, Path):
                response = await client.post(
                    "/simulated/v1/images/load", content=_file_chunks(archive)
                )
            else:
                response = await client.post("/simulated/v1/images/load", content=archive)
            response.raise_for_status()
            return list(response.json()["loaded"])

    async def images(self) -> list[dict[str, Any]]:
        """Images loaded into the simulated cluster: `name`, `id`, `loadedAt`."""
        async with self._client() as client:
            response = await client.get("/simulated/v1/images")
            response.raise_for_status()
            return list(response.json()["images"])

    async def set_tunnel(self, enabled: bool) -> bool:
        """Switch the simulated `minikube tunnel` (LoadBalancer ingress 127.0.0.1)."""
        async with self._client() as client:
            response = await client.post("/simulated/v1/tunnel", json={"enabled": enabled})
            response.raise_for_status()
            return bool(response.json()["enabled"])

    async def tunnel(self) -> bool:
        """Whether the simulated tunnel is on."""
        async with self._client() as client:
            response = await client.get("/simulated/v1/tunnel")
            response.raise_for_status()
            return bool(response.json()["enabled"])


async def _file_chunks(path: Path, size: int = 1 << 20) -> AsyncIterable[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk
