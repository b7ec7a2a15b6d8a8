"""Images from the local Docker Engine: found through --docker-host, or loaded from `docker save`.

Skipped when no Docker Engine answers. The test image is imported from a tiny tar (no
registry, no network) and removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from slipway_simcluster.client import SimulatedClusterClient

from tests.helpers import api_client_for, tar_of
from tests.integration.simcluster.conftest import (
    deployment_body,
    start_cluster,
)
from tests.waiting import poll

docker = pytest.importorskip("docker")
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    try:
        client = docker.DockerClient(base_url=DOCKER_HOST, timeout=10)
        client.ping()
    except Exception as error:  # any failure means: no engine to test against
        pytest.skip(f"no Docker Engine at {DOCKER_HOST}: {error}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def tiny_image(engine: Any) -> Iterator[str]:
    """A one-file image imported into the engine, tagged uniquely."""
    rootfs = tar_of({"hello.txt": b"simulated cluster test image\n"})
    repository, tag = "slipway-simcluster-test/tiny", uuid.uuid4().hex[:12]
    engine.api.import_image_from_data(rootfs, repository=repository, tag=tag)
    reference = f"{repository}:{tag}"
    yield reference
    engine.images.remove(reference, force=True)


def _available(apps: k8s.AppsV1Api, name: str) -> bool:
    status = apps.read_namespaced_deployment(name, "default").status
    return status.available_replicas == 1


def test_cluster_with_docker_host_runs_images_the_engine_has(
    tmp_path: Path, tiny_image: str
) -> None:
    process = start_cluster(tmp_path, secrets.token_urlsafe(16), docker_host=DOCKER_HOST)
    try:
        api = api_client_for(tmp_path / "kubeconfig")
        apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
        apps.create_namespaced_deployment(
            "default", deployment_body("present", replicas=1, image=tiny_image)
        )
        absent = f"slipway-simcluster-test/absent:{uuid.uuid4().hex[:12]}"
        apps.create_namespaced_deployment(
            "default", deployment_body("absent", replicas=1, image=absent)
        )

        poll(lambda: _available(apps, "present"), what="the engine's image to run")
        failures = poll(
            lambda: [
                e
                for e in core.list_namespaced_event("default").items
                if e.reason == "ErrImagePull" and e.involved_object.name.startswith("absent-")
            ],
            what="ErrImagePull for an image the engine lacks",
        )
        api.close()
    finally:
        asyncio.run(process.stop())

    assert DOCKER_HOST in failures[0].message


def test_docker_save_archive_loads_into_the_cluster(
    tmp_path: Path, engine: Any, tiny_image: str
) -> None:
    archive = b"".join(engine.images.get(tiny_image).save(named=True))
    process = start_cluster(tmp_path, secrets.token_urlsafe(16))
    try:
        loaded = asyncio.run(
            SimulatedClusterClient.from_kubeconfig(tmp_path / "kubeconfig").load_images(archive)
        )
        api = api_client_for(tmp_path / "kubeconfig")
        apps = k8s.AppsV1Api(api)
        apps.create_namespaced_deployment(
            "default", deployment_body("loaded", replicas=1, image=tiny_image)
        )
        poll(lambda: _available(apps, "loaded"), what="the loaded image to run")
        api.close()
    finally:
        asyncio.run(process.stop())

    assert tiny_image in loaded or f"docker.io/{tiny_image}" in loaded
