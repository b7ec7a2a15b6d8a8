"""Watch expiry, state persistence across restarts, and port stability of the launcher."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException
from slipway_simcluster import SimulatedClusterError, SimulatedClusterProcess
from slipway_simcluster.client import SimulatedClusterClient

from tests.helpers import api_client_for, image_archive
from tests.integration.simcluster.conftest import (
    WEB_IMAGE,
    deployment_body,
    start_cluster,
)
from tests.waiting import poll


@pytest.fixture
def small_history_cluster(
    tmp_path: Path,
) -> Iterator[tuple[SimulatedClusterProcess, k8s.ApiClient]]:
    process = start_cluster(tmp_path, secrets.token_urlsafe(16), watch_history=20)
    api = api_client_for(tmp_path / "kubeconfig")
    try:
        yield process, api
    finally:
        api.close()
        asyncio.run(process.stop())


def test_watch_from_a_too_old_resource_version_is_410_gone(
    small_history_cluster: tuple[SimulatedClusterProcess, k8s.ApiClient],
) -> None:
    _, api = small_history_cluster
    core = k8s.CoreV1Api(api)
    first = core.create_namespace({"metadata": {"name": "early"}})
    for index in range(25):  # more changes than the history keeps
        core.create_namespaced_secret("early", {"metadata": {"name": f"s{index}"}})

    with pytest.raises(ApiException) as expired:
        for _ in watch.Watch().stream(
            core.list_namespaced_secret,
            "early",
            resource_version=first.metadata.resource_version,
            timeout_seconds=5,
        ):
            pass
    raw = api.call_api(
        *api.param_serialize(
            "GET",
            "/api/v1/namespaces/early/secrets",
            query_params=[("watch", "true"), ("resourceVersion", first.metadata.resource_version)],
            auth_settings=["BearerToken"],
        )
    )
    raw.read()

    assert expired.value.status == 410
    event = json.loads(raw.data.splitlines()[0])
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


def test_state_survives_a_restart_with_the_same_port(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(16)
    process = start_cluster(tmp_path, token)
    port = process.port
    try:
        api = api_client_for(tmp_path / "kubeconfig")
        apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
        simulated = SimulatedClusterClient.from_kubeconfig(tmp_path / "kubeconfig")
        asyncio.run(simulated.load_images(image_archive(WEB_IMAGE)))
        core.create_namespace({"metadata": {"name": "shop"}})
        created = apps.create_namespaced_deployment("shop", deployment_body("web", replicas=2))
        poll(lambda: apps.read_namespaced_deployment("web", "shop").status.available_replicas == 2)
        version_before = int(core.list_namespace().metadata.resource_version)
        api.close()
    finally:
        asyncio.run(process.stop())
    assert not process.is_alive()

    restarted = SimulatedClusterProcess(
        "sim-test", tmp_path / "state", token, tmp_path / "kubeconfig", port=port, ready_delay=0.2
    )
    asyncio.run(restarted.start())
    try:
        api = api_client_for(tmp_path / "kubeconfig")
        apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
        deployment = apps.read_namespaced_deployment("web", "shop")
        secret = core.create_namespaced_secret("shop", {"metadata": {"name": "after"}})
        images = asyncio.run(
            SimulatedClusterClient.from_kubeconfig(tmp_path / "kubeconfig").images()
        )
        with pytest.raises(ApiException) as expired:
            for _ in watch.Watch().stream(
                core.list_namespace, resource_version=str(version_before - 1), timeout_seconds=3
            ):
                pass
        api.close()
    finally:
        asyncio.run(restarted.stop())

    assert restarted.port == port
    assert deployment.metadata.uid == created.metadata.uid
    assert deployment.status.available_replicas == 2
    assert int(secret.metadata.resource_version) > version_before
    assert [image["name"] for image in images] == [WEB_IMAGE]
    assert expired.value.status == 410, "the watch history does not survive a restart"


def test_a_taken_port_moves_the_cluster_and_rewrites_the_kubeconfig(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        process = SimulatedClusterProcess(
            "sim-test",
            tmp_path / "state",
            "t0ken",
            tmp_path / "kubeconfig",
            port=taken,
            ready_delay=0.2,
        )
        port = asyncio.run(process.start())
        try:
            server = yaml.safe_load((tmp_path / "kubeconfig").read_text())["clusters"][0][
                "cluster"
            ]["server"]
            api = api_client_for(tmp_path / "kubeconfig")
            namespaces = k8s.CoreV1Api(api).list_namespace()
            api.close()
        finally:
            asyncio.run(process.stop())

    assert port != taken and server == f"https://127.0.0.1:{port}"
    assert namespaces.items


def test_a_second_process_on_the_same_state_dir_fails_clearly(tmp_path: Path) -> None:
    first = start_cluster(tmp_path, "t0ken")
    try:
        second = SimulatedClusterProcess(
            "sim-test", tmp_path / "state", "t0ken", tmp_path / "other-kubeconfig"
        )
        with pytest.raises(SimulatedClusterError, match="another simulated cluster process"):
            asyncio.run(second.start())
        assert first.is_alive()
    finally:
        asyncio.run(first.stop())
