"""The workload-manager as it runs: its FastStream app on a NATS server of its own, the
durable projection consumer fed through SLIPWAY_EVENTS, commands over request-reply,
rollouts from SLIPWAY_JOBS against a simulated cluster, and a stand-in cluster-manager
answering the kubeconfig and image-load subjects."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any

import nats
import pytest
import pytest_asyncio
import slipway_devstack as devstack
import yaml
from nats.aio.client import Client
from pymongo import AsyncMongoClient

from slipway_contracts import subjects
from slipway_libs.messaging import ensure_streams
from slipway_workload_manager.app import create_app
from slipway_workload_manager.handlers.events import DURABLE
from slipway_workload_manager.settings import WorkloadManagerSettings
from tests.events import read_events
from tests.helpers import keep_test_logging  # noqa: F401 (an autouse fixture)
from tests.integration.workload_manager.workloads import (
    SimCluster,
    SimClusterManager,
)
from tests.stack import Stack
from tests.unit.workload_manager.fakes import CLUSTER, IMAGE, cluster_event, image_event
from tests.waiting import eventually

# The shared fixtures (world, sim_cluster) live in a module of their own.
pytest_plugins = ["tests.integration.workload_manager.fixtures"]

pytestmark = pytest.mark.slow
CONCURRENT = 200
CREATE = subjects.command(subjects.DEPLOYMENT, "create")
RUNNING = subjects.event(subjects.DEPLOYMENT, "running")


@pytest.fixture(scope="module")
def private_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS server of this module's own: the stack's runs a workload-manager already."""
    port = devstack.free_port()
    process = devstack.start_nats(tmp_path_factory.mktemp("wm-nats"), port)
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.stop()


async def answer_cluster_manager(nc: Client, manager: SimClusterManager) -> None:
    """Answer the cluster-manager's subjects the way it does, for the simulated cluster."""

    async def kubeconfig(msg: Any) -> None:
        text = await manager.kubeconfig(json.loads(msg.data)["id"])
        await msg.respond(json.dumps({"ok": True, "data": {"kubeconfig": text}}).encode())

    async def load_image(msg: Any) -> None:
        body = json.loads(msg.data)
        await manager.load_image(body["id"], body["image"])
        await msg.respond(json.dumps({"ok": True, "data": {"image": body["image"]}}).encode())

    await nc.subscribe(subjects.query(subjects.MINIKUBE_CLUSTER, "kubeconfig"), cb=kubeconfig)
    await nc.subscribe(subjects.command(subjects.MINIKUBE_CLUSTER, "load_image"), cb=load_image)


@dataclass
class Running:
    nc: Client
    manager: SimClusterManager
    nats_url: str
    mongodb_uri: str
    database: str

    async def ask(self, subject: str, body: dict[str, Any], timeout: float = 10) -> Any:
        reply = json.loads(
            (await self.nc.request(subject, json.dumps(body).encode(), timeout)).data
        )
        assert reply["ok"], reply
        return reply["data"]

    async def announce(self, subject: str, envelope: dict[str, Any]) -> None:
        """Publish an event as its owner's outbox relay would."""
        js = self.nc.jetstream()
        await js.publish(
            subject, json.dumps(envelope).encode(), headers={"Nats-Msg-Id": envelope["id"]}
        )

    async def deployment(self, deployment_id: str) -> dict[str, Any]:
        return await self.ask(subjects.query(subjects.DEPLOYMENT, "get"), {"id": deployment_id})

    async def events(self, subject: str) -> list[tuple[str, dict[str, Any]]]:
        return await read_events(self.nc, subject, batch=500)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(
    stack: Stack, private_nats: str, sim_cluster: SimCluster
) -> AsyncIterator[Running]:
    settings = WorkloadManagerSettings(
        nats_url=private_nats,
        mongodb_uri=stack.mongodb_uri,
        database=f"wm_app_{uuid.uuid4().hex[:8]}",
        reconcile_interval_s=1,
        job_ack_wait_s=10,
    )
    nc = await nats.connect(private_nats)
    await ensure_streams(nc.jetstream())
    manager = SimClusterManager(sim_cluster)
    await answer_cluster_manager(nc, manager)
    app = create_app(settings)
    task = asyncio.create_task(app.run())
    world = Running(nc, manager, private_nats, stack.mongodb_uri, settings.database)

    async def serving() -> bool:
        try:
            await nc.request(subjects.health("workload-manager"), b"", timeout=1)
        except (nats.errors.Error, TimeoutError):
            return False
        return True

    await eventually(serving, timeout_s=60, what="the workload-manager to serve")
    server = yaml.safe_load(sim_cluster.kubeconfig)["clusters"][0]["cluster"]["server"]
    await world.announce(
        subjects.event(subjects.MINIKUBE_CLUSTER, "running"),
        cluster_event("running", 1, api_server=server),
    )
    await world.announce(subjects.event(subjects.CONTAINER_IMAGE, "built"), image_event("built", 2))
    try:
        yield world
    finally:
        app.exit()
        await asyncio.wait_for(task, 60)
        await nc.close()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongodb_uri)
        await mongo.drop_database(settings.database)
        await mongo.close()


def spec(name: str, namespace: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "cluster_id": CLUSTER.id,
        "image": IMAGE.reference,
        "replicas": replicas,
        "container_port": 8080,
    }


async def create_when_projected(running: Running, body: dict[str, Any]) -> dict[str, Any]:
    """Create a deployment once the projections have caught up with the announcements."""

    async def attempt() -> dict[str, Any] | None:
        reply = json.loads((await running.nc.request(CREATE, json.dumps(body).encode(), 10)).data)
        return reply["data"] if reply["ok"] else None

    return await eventually(
        attempt, timeout_s=30, what="the projections to see the cluster and the image"
    )


@pytest.mark.asyncio(loop_scope="module")
async def test_a_deployment_over_nats_goes_pending_then_running(running: Running):
    namespace = f"app-{uuid.uuid4().hex[:6]}"
    created = await create_when_projected(running, spec("web", namespace, replicas=3))
    assert created["status"] == "pending"

    async def is_running() -> dict[str, Any] | None:
        found = await running.deployment(created["id"])
        return found if found["status"] == "running" else None

    done = await eventually(is_running, timeout_s=60, what="the deployment to run")
    assert done["available_replicas"] == 3
    events = [
        s
        for s, e in await running.events(subjects.event(subjects.DEPLOYMENT, ">"))
        if e["subject"] == created["id"]
    ]
    assert events == [subjects.event(subjects.DEPLOYMENT, "created"), RUNNING]


@pytest.mark.asyncio(loop_scope="module")
async def test_a_nosuch_image_is_refused_over_nats_naming_the_field(running: Running):
    await create_when_projected(running, spec("probe", f"p-{uuid.uuid4().hex[:6]}"))
    body = {**spec("web", "default"), "image": "nosuch/image:1.0"}
    reply = json.loads((await running.nc.request(CREATE, json.dumps(body).encode(), 10)).data)
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid"
    assert reply["error"]["details"][0]["field"] == "image"


@pytest.mark.asyncio(loop_scope="module")
async def test_two_hundred_concurrent_deployments_all_run_with_one_running_event_each(
    running: Running, record_property: Any
):
    namespace = f"load-{uuid.uuid4().hex[:6]}"
    await create_when_projected(running, spec("warm-up", namespace))
    started = time.monotonic()
    created = await asyncio.gather(
        *(running.ask(CREATE, spec(f"app-{i:03d}", namespace), 30) for i in range(CONCURRENT))
    )
    accepted_s = time.monotonic() - started
    ids = {c["id"] for c in created}
    assert len(ids) == CONCURRENT

    async def all_running() -> bool:
        page = await running.ask(
            subjects.query(subjects.DEPLOYMENT, "list"), {"status": "running", "limit": 500}
        )
        return ids <= {d["id"] for d in page["items"]}

    await eventually(all_running, timeout_s=240, what=f"{CONCURRENT} deployments running")
    running_s = time.monotonic() - started
    record_property("accepted_s", round(accepted_s, 2))
    record_property("all_running_s", round(running_s, 2))
    print(
        f"\n{CONCURRENT} deployments: accepted in {accepted_s:.1f} s, all running after {running_s:.1f} s"
    )

    events = await running.events(RUNNING)
    per_deployment: dict[str, int] = {}
    for _, event in events:
        per_deployment[event["subject"]] = per_deployment.get(event["subject"], 0) + 1
    assert {i: per_deployment.get(i, 0) for i in ids} == dict.fromkeys(ids, 1)
    assert running.manager.loads.count(IMAGE.reference) == 1


@pytest.mark.asyncio(loop_scope="module")
async def test_a_burst_of_events_is_projected_promptly_newest_versions_only_and_all_acked(
    running: Running,
):
    clusters = [replace(CLUSTER, id=f"burst-{uuid.uuid4().hex[:8]}") for _ in range(60)]

    async def announce(cluster: Any) -> None:  # the stale `starting` comes last
        for status, version in (("created", 1), ("running", 3), ("starting", 2)):
            event = cluster_event(status, version, cluster)
            await running.announce(subjects.event(subjects.MINIKUBE_CLUSTER, status), event)

    await asyncio.gather(*(announce(cluster) for cluster in clusters))
    announced = time.monotonic()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(running.mongodb_uri)
    rows = mongo[running.database]["projected_clusters"]
    ids = [cluster.id for cluster in clusters]

    async def projected() -> list[Any]:
        found = await rows.find({"_id": {"$in": ids}, "entityversion": 3}).to_list()
        return found if len(found) == len(ids) else []

    try:
        found = await eventually(projected, timeout_s=30, what="the burst projected")
    finally:
        await mongo.close()
    lag_s = time.monotonic() - announced
    assert {row["status"] for row in found} == {"running"}  # the stale `starting` changed none
    print(f"\n{len(ids) * 3} events: all projected {lag_s * 1000:.0f} ms after the last")

    async def all_acked() -> bool:
        info = await running.nc.jetstream().consumer_info(subjects.EVENTS_STREAM, DURABLE)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(all_acked, timeout_s=10, what="every event acked")
