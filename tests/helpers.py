"""Helpers that tests of more than one area share: in-memory archives, processes found
through /proc, polling, and the root logger kept as the test run configured it."""

from __future__ import annotations

import io
import json
import logging
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config


def tar_of(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar holding `files` (name -> content), built in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def image_archive(*tags: str) -> bytes:
    """A minimal `docker save` tar naming `tags`: loading it makes them available."""
    manifest = [
        {"Config": f"blobs/sha256/{uuid.uuid4().hex}", "RepoTags": list(tags), "Layers": []}
    ]
    return tar_of({"manifest.json": json.dumps(manifest).encode()})


def api_client_for(kubeconfig: Path, pool: int = 32) -> k8s.ApiClient:
    """The official Python client configured from a kubeconfig file."""
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = pool
    return k8s.ApiClient(configuration)


class KubernetesClients:
    """The official client's APIs for a (simulated) cluster through `api`, and fresh
    namespaces on it, so that tests sharing the cluster do not see each other's objects."""

    api: k8s.ApiClient

    @property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api)

    def namespace(self) -> str:
        """A namespace of its own for one test."""
        name = f"t-{uuid.uuid4().hex[:10]}"
        self.core.create_namespace({"metadata": {"name": name}})
        return name


def live_processes(marker: bytes, command_part: bytes | None = None) -> list[int]:
    """Live (not zombie) processes whose environment holds `marker` (`NAME=value`), and
    whose command line holds `command_part` when it is given; found through /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            command = (entry / "cmdline").read_bytes() if command_part is not None else b""
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and (command_part or b"") in command and state != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture(autouse=True)
def keep_test_logging() -> Iterator[None]:
    """A worker app makes the root logger JSON-to-stderr, as a service process should;
    the test run gets its own back afterwards. Import it into a test module to use it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level
