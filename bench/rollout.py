"""A burst of deployments on a simulated cluster: all created at once (at most
`deploy_in_flight` requests open), timed from the first request to the last `running`
event at an `events-reader` subscriber.

The cluster is `local` (what `make run` starts) when it runs, else a simulated cluster
the bench starts. One image is built first, and one untimed deployment is retried until
the workload-manager accepts it (its projections have the image and the cluster)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.api import call, expect
from bench.feed import EventFeed
from bench.jobs import BUILD_CONTEXT
from bench.measure import drive, latency_ms, ms, until
from bench.settings import Sizes
from bench.target import Target
from slipway_contracts import subjects

CLUSTERS = "/api/minikube-clusters"
DEPLOYMENTS = "/api/deployments"
SETUP_TIMEOUT_S = 120.0


async def _running_cluster(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """`local` once it runs (if it exists), else a new simulated cluster, started."""

    async def local() -> dict[str, Any] | None:
        page = (await api.get(CLUSTERS, params={"limit": 500, "status": "running"})).json()
        return next((c for c in page["items"] if c["name"] == "local"), None)

    starting = (await api.get(CLUSTERS, params={"limit": 500, "status": "stopped"})).json()
    if any(c["name"] == "local" and c["operation"] for c in starting["items"]) or await local():
        return await until(local, SETUP_TIMEOUT_S, "cluster 'local' running")
    response = await api.post(
        CLUSTERS,
        json={
            "name": f"b{run_id}-sim",
            "driver": "sim",
            "cpus": 1,
            "memory": 1024,
            "disk_size": 2048,
            "start": True,
        },
    )
    expect(response, 202)
    path = f"{CLUSTERS}/{response.json()['id']}"

    async def running() -> dict[str, Any] | None:
        cluster: dict[str, Any] = (await api.get(path)).json()
        if cluster["status"] == "error":
            raise RuntimeError(f"cluster did not start: {cluster.get('reason')}")
        return cluster if cluster["status"] == "running" else None

    return await until(running, SETUP_TIMEOUT_S, "the bench's cluster running")


async def _built_image(api: httpx.AsyncClient, run_id: str) -> str:
    body = {
        "name": f"bench/deploy-{run_id}",
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": str(BUILD_CONTEXT)},
    }
    response = await api.post("/api/container-images", json=body)
    expect(response, 202)
    path = f"/api/container-images/{response.json()['id']}"

    async def built() -> str | None:
        image: dict[str, Any] = (await api.get(path)).json()
        if image["status"] == "failed":
            raise RuntimeError(f"image build failed: {image.get('reason')}")
        return str(image["id"]) if image["status"] == "built" else None

    return await until(built, SETUP_TIMEOUT_S, "the image built")


async def measure(target: Target, sizes: Sizes, run_id: str) -> dict[str, Any]:
    namespace = f"b{run_id}"
    async with target.http(max(1, sizes.deploy_in_flight)) as api:
        cluster = await _running_cluster(api, run_id)
        image_id = await _built_image(api, run_id)

        def body(name: str) -> dict[str, Any]:
            return {
                "name": name,
                "namespace": namespace,
                "cluster_id": cluster["id"],
                "image_id": image_id,
                "replicas": 1,
                "container_port": 8080,
            }

        async def accepted() -> bool:
            response = await api.post(DEPLOYMENTS, json=body(f"d{run_id}-first"))
            return response.status_code == 202

        await until(accepted, SETUP_TIMEOUT_S, "a first deployment accepted")
        ids: set[str] = set()

        async def create(i: int) -> None:
            created = await call(loader, "POST", DEPLOYMENTS, 202, json=body(f"d{run_id}-{i}"))
            ids.add(created["id"])

        async with (
            EventFeed(
                target.nats_options("events-reader"), subjects.event(subjects.DEPLOYMENT, ">")
            ) as feed,
            target.loader(max(1, sizes.deploy_in_flight)) as loader,
        ):
            began_wall, began = time.time(), time.perf_counter()
            creates = await drive(create, sizes.deployments, sizes.deploy_in_flight)
            left = max(0.0, sizes.deploy_deadline_s - (time.perf_counter() - began))
            running = await feed.wait_all(ids, {"running"}, left)
            failed = feed.count(ids, {"failed"})
    to_running = [a.arrived_at - began_wall for a in running]
    everything = len(running) == sizes.deployments
    return {
        "cluster": {"name": cluster["name"], "driver": cluster["driver"]},
        "namespace": namespace,
        "deployments": sizes.deployments,
        "replicas_each": 1,
        "in_flight": sizes.deploy_in_flight,
        "creates": creates.summary(),
        "running": len(running),
        "failed": failed,
        "deadline_s": sizes.deploy_deadline_s,
        "all_running": everything,
        "all_running_s": round(max(to_running), 3) if everything and to_running else None,
        "created_all_s": round(creates.wall_s, 3),
        "time_to_running": latency_ms(to_running) | {"first_ms": ms(min(to_running, default=None))},
    }
