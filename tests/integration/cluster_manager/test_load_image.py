"""Loading a local image into a running sim cluster (what the workload-manager asks for
before a rollout): `docker save` from a real Docker Engine into the simulated cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import docker
import nats
import pytest
import slipway_devstack as devstack
from slipway_simcluster.client import SimulatedClusterClient

from tests.helpers import tar_of
from tests.integration.cluster_manager.conftest import Bus, Manager

IMAGE = "slipway-test/loadable:1.0.0"


@pytest.fixture(scope="module")
def docker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """A Docker Engine: the one DOCKER_HOST names, else a private one (root only)."""
    host, dockerd = devstack.ensure_docker(tmp_path_factory.mktemp("docker"), private=True)
    if host is None and dockerd is None and not devstack.docker_answers(None):
        pytest.skip("no Docker Engine (and not root, so none can be started)")
    try:
        yield host
    finally:
        if dockerd is not None:
            dockerd.stop(30)


def import_image(docker_host: str | None, reference: str) -> None:
    """Make a tiny image without any network: `docker import` of a one-file rootfs."""
    rootfs = tar_of({"hello.txt": b"hello from a test image\n"})
    client = docker.DockerClient(base_url=docker_host) if docker_host else docker.from_env()
    try:
        repository, tag = reference.rsplit(":", 1)
        client.api.import_image_from_data(rootfs, repository=repository, tag=tag)
    finally:
        client.close()


@pytest.fixture
async def docker_bus(start_manager: Any, docker_host: str | None) -> AsyncIterator[Bus]:
    env = {"SLIPWAY_DOCKER_HOST": docker_host} if docker_host else {}
    manager: Manager = await asyncio.to_thread(start_manager, **env)
    client = await nats.connect(manager.nats_url)
    try:
        yield Bus(client, manager)
    finally:
        await client.close()


async def test_a_local_image_is_loaded_and_a_missing_one_is_named(
    docker_bus: Bus, docker_host: str | None, tmp_path: Path
) -> None:
    bus = docker_bus
    created = await bus.create(name="loader", driver="sim", start=True)
    cluster = await bus.wait_status(created["id"], "running")

    missing = await bus.command(
        "load_image", {"id": cluster["id"], "image": "slipway-test/absent:9.9.9"}
    )
    assert missing["ok"] is False
    assert missing["error"]["code"] == "invalid"
    assert missing["error"]["details"][0]["field"] == "image"
    assert missing["error"]["message"] == (
        "image: slipway-test/absent:9.9.9 is not in the local Docker Engine; build it "
        "(or docker pull/load it) before loading it into the cluster"
    )

    await asyncio.to_thread(import_image, docker_host, IMAGE)
    loaded = await bus.command("load_image", {"id": cluster["id"], "image": IMAGE})

    assert loaded == {"ok": True, "data": {"id": cluster["id"], "name": "loader", "image": IMAGE}}
    simulated = SimulatedClusterClient.from_kubeconfig(
        bus.manager.cluster_dir("loader") / "kubeconfig"
    )
    assert IMAGE in [image["name"] for image in await simulated.images()]
    await bus.delete(cluster["id"])
