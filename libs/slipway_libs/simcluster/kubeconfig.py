"""The kubeconfig file of a simulated cluster (one cluster, one token user, one context)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def kubeconfig_document(
    name: str, port: int, token: str, namespace: str = "default"
) -> dict[str, Any]:
    """A kubeconfig whose cluster, user and context are all named after the cluster."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
        ],
        "current-context": name,
    }


def write_kubeconfig(path: Path, name: str, port: int, token: str) -> None:
    """Write (or rewrite) the kubeconfig atomically, readable by its owner only: it holds the token."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        yaml.safe_dump(kubeconfig_document(name, port, token), handle, sort_keys=False)
    os.replace(temporary, path)
