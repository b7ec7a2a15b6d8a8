"""The workload-manager's advisors against fakes: diagnoses of a Deployment, resource
recommendations and a cluster's health."""

from __future__ import annotations

from slipway_contracts.advice import ClusterHealthQuery, DiagnoseDeployment, RecommendResources
from slipway_workload_manager.domain.ports import PodReport, RolloutObservation
from slipway_workload_manager.service_layer import advice
from tests.unit.workload_manager.fakes import (
    CLUSTER,
    World,
    announce,
    cluster_event,
    create_service,
    ready,
    running_deployment,
)
from tests.unit.workload_manager.fakes import create_deployment as accept


def pod(name: str, *, waiting: str | None = None, restarts: int = 0, last: str | None = None):
    status: dict = {"restartCount": restarts, "state": {}}
    if waiting:
        status["state"] = {"waiting": {"reason": waiting, "message": "back-off"}}
    if last:
        status["lastState"] = {"terminated": {"exitCode": 137, "reason": last}}
    return {"metadata": {"name": name}, "status": {"containerStatuses": [status]}}


def warning(pod_name: str, reason: str, message: str):
    return {
        "type": "Warning",
        "reason": reason,
        "message": message,
        "involvedObject": {"kind": "Pod", "name": pod_name},
    }


async def diagnose(world: World, deployment_id: str) -> dict:
    reply = await advice.diagnose_deployment(world.deps, DiagnoseDeployment(id=deployment_id))
    return reply["data"]


async def test_a_healthy_deployment_has_no_diagnosis(world):
    created = await running_deployment(world)
    answer = await diagnose(world, created["id"])
    assert (answer["healthy"], answer["diagnoses"]) == (True, [])


async def test_an_image_removed_from_the_engine_is_named_as_the_load_failure(world):
    await ready(world)
    world.manager.load_error = "docker save shop/web:1.0.0: No such image"
    created = await accept(world)
    await world.run_jobs()
    answer = await diagnose(world, created["id"])
    assert answer["status"] == "failed" and not answer["healthy"]
    first = answer["diagnoses"][0]
    assert first["cause"] == "image_load_failed"
    assert "no longer in the Docker Engine" in first["summary"]
    assert first["suggested_command"].startswith("slipway images build ")
    assert "--name shop/web --tag 1.0.0" in first["suggested_command"]


async def test_crash_loops_out_of_memory_and_probe_failures_are_diagnosed(world):
    created = await running_deployment(world)
    key = ("default", created["id"])
    world.cluster.pod_reports[key] = PodReport(
        pods=[pod("web-1", waiting="CrashLoopBackOff", restarts=5, last="OOMKilled")],
        events=[warning("web-1", "Unhealthy", "Liveness probe failed: dial tcp: refused")],
    )
    causes = [d["cause"] for d in (await diagnose(world, created["id"]))["diagnoses"]]
    assert causes[:2] == ["out_of_memory", "probe_failed"]


async def test_pods_pending_for_resources_and_a_pull_error(world):
    created = await running_deployment(world)
    world.cluster.pod_reports[("default", created["id"])] = PodReport(
        pods=[pod("web-1", waiting="ErrImagePull")],
        events=[warning("web-1", "FailedScheduling", "0/1 nodes are available: Insufficient cpu")],
    )
    answer = await diagnose(world, created["id"])
    causes = {d["cause"] for d in answer["diagnoses"]}
    assert {"image_pull_failed", "pending_resources"} <= causes
    [pending] = [d for d in answer["diagnoses"] if d["cause"] == "pending_resources"]
    assert "Insufficient cpu" in pending["evidence"][0]


async def test_a_service_without_endpoints_is_named(world):
    created = await running_deployment(world)
    service = await create_service(world, created["id"])
    world.kube_services.rows[service["id"]] = world.kube_services.rows[service["id"]].model_copy(
        update={"endpoints": [], "status": "failed"}
    )
    answer = await diagnose(world, created["id"])
    assert [d["cause"] for d in answer["diagnoses"]] == ["service_no_endpoints"]


async def test_resources_follow_the_busiest_pod_and_replicas_the_cpu(world):
    world.cluster.pod_usage = {}
    created = await running_deployment(world, replicas=2)
    world.cluster.pod_usage[("default", created["id"])] = [
        {"metadata": {"name": "a"}, "containers": [{"usage": {"cpu": "90m", "memory": "40Mi"}}]},
        {"metadata": {"name": "b"}, "containers": [{"usage": {"cpu": "60m", "memory": "30Mi"}}]},
    ]
    reply = await advice.recommend_resources(world.deps, RecommendResources(id=created["id"]))
    answer = reply["data"]
    assert answer["recommended"]["requests"] == {"cpu": "120m", "memory": "52Mi"}
    # 150m used of 2 x 50m requested: 150 % -> 5 replicas to sit near 70 %, at most doubled.
    assert answer["recommended_replicas"] == 4
    assert answer["changed"] is True and answer["reasoning"]


async def test_without_metrics_the_resources_stay_and_it_says_why(world):
    created = await running_deployment(world, replicas=2)
    reply = await advice.recommend_resources(world.deps, RecommendResources(id=created["id"]))
    answer = reply["data"]
    assert answer["recommended"] == answer["current"] and answer["recommended_replicas"] == 2
    assert "no usage observed" in answer["reasoning"][0]


async def test_cluster_health_lists_problems_worst_first(world):
    await running_deployment(world)
    world.cluster.rollouts["broken"] = RolloutObservation(
        phase="failed", reason="ProgressDeadlineExceeded"
    )
    broken = await accept(world, name="broken")
    await world.run_jobs()
    reply = await advice.cluster_health(world.deps, ClusterHealthQuery(id=CLUSTER.id))
    health = reply["data"]
    assert health["healthy"] is False
    assert health["problems"][0]["id"] == broken["id"]
    assert health["problems"][0]["severity"] == "error"
    assert health["deployments"] == {"total": 2, "healthy": 1}
    await announce(world, cluster_event("stopped", 9))
    stopped = (await advice.cluster_health(world.deps, ClusterHealthQuery(id=CLUSTER.id)))["data"]
    assert stopped["problems"][0]["kind"] == "cluster"
