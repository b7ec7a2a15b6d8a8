"""The kubeconfig file of a simulated cluster (one cluster, one token user, one context)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml


def kubeconfig_document(
    name: str, port: int, token: str, ca_pem: bytes, namespace: str = "default"
) -> dict[str, Any]:
    """A kubeconfig whose cluster, user and context are all named after the cluster.

    The server is `https://127.0.0.1:PORT`, trusted through the cluster's own CA.
    """
    cluster = {
        "server": f"https://127.0.0.1:{port}",
        "certificate-authority-data": base64.b64encode(ca_pem).decode(),
    }
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
        ],
        "current-context": name,
    }


def write_kubeconfig(path: Path, name: str, port: int, token: str, ca_cert: Path) -> None:
    """Write (or rewrite) the kubeconfig atomically, owner-only: it holds the token."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = kubeconfig_document(name, port, token, Path(ca_cert).read_bytes())
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        yaml.safe_dump(document, handle, sort_keys=False)
    os.replace(temporary, path)
