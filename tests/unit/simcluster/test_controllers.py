"""The simulated kubelet and controllers, driven in-process (no HTTP) for exact observation."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
from slipway_simcluster.cluster import ClusterConfig, SimulatedCluster, StateDirLocked
from slipway_simcluster.networking import pod_is_ready
from slipway_simcluster.resources import DEPLOYMENTS, ENDPOINTS, PODS, REPLICASETS, SERVICES
from slipway_simcluster.store import WatchEvent

from tests.unit.simcluster.conftest import ClusterFactory
from tests.waiting import eventually


def deployment(
    name: str = "web", replicas: int = 4, image: str = "shop/web:1.0.0", **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ]
                },
            },
            **spec,
        },
    }


def status(cluster: SimulatedCluster, name: str = "web") -> dict[str, Any]:
    return (cluster.store.peek(DEPLOYMENTS, "default", name) or {}).get("status") or {}


def rolled_out(cluster: SimulatedCluster, replicas: int, name: str = "web") -> bool:
    current = status(cluster, name)
    return all(
        current.get(field) == replicas
        for field in ("replicas", "updatedReplicas", "availableReplicas")
    )


def pods_of(cluster: SimulatedCluster, name: str = "web") -> list[dict[str, Any]]:
    return [
        p
        for p in cluster.store.objects(PODS, "default")
        if p["metadata"]["labels"].get("app") == name
    ]


def set_image(cluster: SimulatedCluster, image: str, name: str = "web") -> None:
    current = copy.deepcopy(cluster.store.peek(DEPLOYMENTS, "default", name))
    current["spec"]["template"]["spec"]["containers"][0]["image"] = image
    cluster.registry.update(DEPLOYMENTS, "default", name, current)


async def test_rolling_update_keeps_within_max_surge_and_max_unavailable(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster()
    cluster.registry.create(DEPLOYMENTS, "default", deployment(replicas=4))
    await eventually(lambda: rolled_out(cluster, 4))
    totals: list[int] = []
    ready: list[int] = []

    def observe(event: WatchEvent) -> None:
        if event.resource.key == PODS.key:
            pods = pods_of(cluster)
            totals.append(len(pods))
            ready.append(sum(1 for pod in pods if pod_is_ready(pod)))

    cluster.store.add_listener(observe)
    set_image(cluster, "shop/web:2.0.0")
    await eventually(lambda: rolled_out(cluster, 4) and status(cluster)["observedGeneration"] == 2)

    assert totals, "the rollout replaced pods"
    assert max(totals) <= 5, "maxSurge 25% of 4 allows one extra pod"
    assert min(ready) >= 3, "maxUnavailable 25% of 4 allows one pod down"
    assert {p["spec"]["containers"][0]["image"] for p in pods_of(cluster)} == {"shop/web:2.0.0"}
    deployed = cluster.store.peek(DEPLOYMENTS, "default", "web")
    assert deployed["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    progressing = next(c for c in status(cluster)["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"


async def test_recreate_strategy_never_mixes_old_and_new_pods(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(
        DEPLOYMENTS, "default", deployment(replicas=3, strategy={"type": "Recreate"})
    )
    await eventually(lambda: rolled_out(cluster, 3))
    mixes: list[set[str]] = []
    cluster.store.add_listener(
        lambda event: (
            mixes.append({p["spec"]["containers"][0]["image"] for p in pods_of(cluster)})
            if event.resource.key == PODS.key
            else None
        )
    )

    set_image(cluster, "shop/web:2.0.0")
    await eventually(lambda: rolled_out(cluster, 3) and status(cluster)["observedGeneration"] == 2)

    assert all(len(images) <= 1 for images in mixes)


async def test_min_ready_seconds_delays_availability(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(DEPLOYMENTS, "default", deployment(replicas=2, minReadySeconds=1))

    await eventually(lambda: status(cluster).get("readyReplicas") == 2)
    became_ready = time.monotonic()
    assert not status(cluster).get("availableReplicas")
    await eventually(lambda: status(cluster).get("availableReplicas") == 2, timeout_s=5)

    assert time.monotonic() - became_ready >= 0.5


async def test_scaling_down_removes_pods_that_are_not_ready_first(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster(ready_delay=0.3)
    cluster.registry.create(DEPLOYMENTS, "default", deployment(replicas=2))
    await eventually(lambda: rolled_out(cluster, 2))
    ready_names = {p["metadata"]["name"] for p in pods_of(cluster)}

    cluster.registry.update_scale(DEPLOYMENTS, "default", "web", {"spec": {"replicas": 3}})
    await eventually(lambda: len(pods_of(cluster)) == 3)
    cluster.registry.update_scale(DEPLOYMENTS, "default", "web", {"spec": {"replicas": 2}})
    await eventually(lambda: len(pods_of(cluster)) == 2)

    assert {p["metadata"]["name"] for p in pods_of(cluster)} == ready_names


async def test_deployment_deletion_collects_pods_unless_orphaned(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster()
    cluster.registry.create(DEPLOYMENTS, "default", deployment("web", replicas=2))
    cluster.registry.create(DEPLOYMENTS, "default", deployment("api", replicas=2))
    await eventually(lambda: rolled_out(cluster, 2, "web") and rolled_out(cluster, 2, "api"))

    cluster.registry.delete(DEPLOYMENTS, "default", "web")
    cluster.registry.delete(DEPLOYMENTS, "default", "api", {"propagationPolicy": "Orphan"})
    await eventually(lambda: not pods_of(cluster, "web"))

    orphans = pods_of(cluster, "api")
    assert len(orphans) == 2
    replica_sets = cluster.store.objects(REPLICASETS, "default")
    assert [rs["metadata"]["name"] for rs in replica_sets] == [
        orphans[0]["metadata"]["ownerReferences"][0]["name"]
    ]
    assert "ownerReferences" not in replica_sets[0]["metadata"], (
        "the ReplicaSet was orphaned, not deleted"
    )


async def test_endpoints_follow_pod_readiness(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster(ready_delay=0.2)
    cluster.registry.create(
        SERVICES,
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    )
    cluster.registry.create(DEPLOYMENTS, "default", deployment(replicas=2))

    def endpoints() -> dict[str, Any]:
        return cluster.store.peek(ENDPOINTS, "default", "web") or {}

    not_ready = await eventually(
        lambda: (
            len((endpoints().get("subsets") or [{}])[0].get("notReadyAddresses", [])) == 2
            and endpoints()
        )
    )
    ready = await eventually(
        lambda: (
            len((endpoints().get("subsets") or [{}])[0].get("addresses", [])) == 2 and endpoints()
        )
    )

    assert "addresses" not in not_ready["subsets"][0]
    pod_ips = sorted(p["status"]["podIP"] for p in pods_of(cluster))
    assert [a["ip"] for a in ready["subsets"][0]["addresses"]] == pod_ips
    assert ready["subsets"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}], (
        "named targetPort resolved"
    )

    cluster.registry.delete(SERVICES, "default", "web")
    await eventually(lambda: not endpoints())


async def test_state_survives_a_restart_and_the_directory_is_exclusive(
    make_cluster: ClusterFactory, tmp_path: Path
) -> None:
    cluster = await make_cluster()
    created = cluster.registry.create(DEPLOYMENTS, "default", deployment(replicas=2))
    await eventually(lambda: rolled_out(cluster, 2))
    with pytest.raises(StateDirLocked):
        await SimulatedCluster(
            ClusterConfig(name="unit", state_dir=tmp_path / "state", token="t")
        ).start()
    version_before = cluster.store.resource_version
    await cluster.stop()

    restarted = await make_cluster()

    reloaded = restarted.store.peek(DEPLOYMENTS, "default", "web")
    assert reloaded is not None and reloaded["metadata"]["uid"] == created["metadata"]["uid"]
    assert restarted.store.resource_version >= version_before
    assert rolled_out(restarted, 2)
    assert [p.name for p in (tmp_path / "state").iterdir() if p.name.endswith(".tmp")] == []
