"""Reading live objects as the API server returns them: rollouts and service readiness."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from slipway_workload_manager.domain.rollout import (
    NO_READY_ENDPOINTS,
    WAITING_FOR_LOAD_BALANCER,
    interpret_deployment,
    interpret_service,
    pod_problem,
)

IMAGE = "shop/web:1.4.2"
PULL_ERROR = (
    'Failed to pull image "shop/web:1.4.2": rpc error: code = NotFound desc = '
    "failed to pull and unpack image: not found"
)


def live_deployment(
    *,
    replicas: int = 3,
    generation: int = 1,
    observed: int = 1,
    status: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Deployment as `GET /apis/apps/v1/...` answers (zero counts omitted)."""
    body: dict[str, Any] = {
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "4f1c",
            "resourceVersion": "1234",
            "generation": generation,
            "labels": {"slipway.io/id": "d-1"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"slipway.io/id": "d-1"}},
            "template": {
                "metadata": {"labels": {"slipway.io/id": "d-1"}},
                "spec": {"containers": [{"name": "web", "image": IMAGE}]},
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "progressDeadlineSeconds": 60,
        },
        "status": {"observedGeneration": observed, **(status or {})},
    }
    if conditions is not None:
        body["status"]["conditions"] = conditions
    return body


def condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": "2026-05-01T12:00:00Z",
        "lastTransitionTime": "2026-05-01T12:00:00Z",
        "reason": reason,
        "message": message,
    }


COMPLETE = {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}
DEADLINE = condition(
    "Progressing",
    "False",
    "ProgressDeadlineExceeded",
    'ReplicaSet "web-7d9f8b6c5" has timed out progressing.',
)


def pod(
    name: str, waiting: tuple[str, str] | None = None, deleting: bool = False
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {"startedAt": "2026-05-01T12:00:01Z"}}
    if waiting:
        state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "shop", "labels": {"slipway.io/id": "d-1"}},
        "status": {
            "phase": "Pending" if waiting else "Running",
            "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}],
            "containerStatuses": [
                {"name": "web", "image": IMAGE, "ready": not waiting, "state": state}
            ],
        },
    }
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-05-01T12:00:09Z"
    return body


def not_ready(name: str) -> dict[str, Any]:
    body = pod(name)
    body["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    return body


def event(
    pod_name: str, reason: str, message: str, at: str, kind: str = "Warning"
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{pod_name}.17a", "namespace": "shop"},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": pod_name},
        "reason": reason,
        "message": message,
        "type": kind,
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    }


# --- Deployments ------------------------------------------------------------------


def test_a_missing_deployment() -> None:
    observation = interpret_deployment(None)

    assert observation.phase == "missing"


def test_complete_rollout_is_available_with_its_counts() -> None:
    live = live_deployment(
        status=COMPLETE,
        conditions=[
            condition("Available", "True", "MinimumReplicasAvailable", "ok"),
            condition("Progressing", "True", "NewReplicaSetAvailable", "done"),
        ],
    )

    observation = interpret_deployment(live)

    assert observation.phase == "available"
    assert (observation.desired, observation.available, observation.ready) == (3, 3, 3)
    assert observation.updated == 3 and observation.reason is None
    assert observation.live_replicas == 3 and observation.live_image == IMAGE


def test_a_fresh_deployment_without_status_counts_is_progressing() -> None:
    # The API server omits zero counts; a brand-new object has no status at all.
    live = live_deployment(observed=0)
    del live["status"]

    observation = interpret_deployment(live)

    assert observation.phase == "progressing"
    assert (observation.available, observation.updated) == (0, 0)


def test_counts_of_an_older_generation_are_not_availability() -> None:
    # Scaled 3 -> 5: until the controller observes generation 2, the old counts say nothing.
    live = live_deployment(replicas=5, generation=2, observed=1, status=COMPLETE)

    assert interpret_deployment(live).phase == "progressing"


def test_old_replicas_left_mean_still_rolling() -> None:
    status = {"replicas": 4, "updatedReplicas": 3, "readyReplicas": 4, "availableReplicas": 3}

    observation = interpret_deployment(live_deployment(status=status))

    assert observation.phase == "progressing"


def test_scaling_up_is_progressing_until_every_replica_is_available() -> None:
    status = {"replicas": 5, "updatedReplicas": 5, "readyReplicas": 4, "availableReplicas": 4}

    observation = interpret_deployment(live_deployment(replicas=5, status=status))

    assert observation.phase == "progressing"
    assert (observation.desired, observation.available) == (5, 4)


def test_progress_deadline_exceeded_fails_with_the_image_pull_error() -> None:
    live = live_deployment(
        status={"replicas": 3, "updatedReplicas": 3, "unavailableReplicas": 3},
        conditions=[
            condition("Available", "False", "MinimumReplicasUnavailable", "no"),
            DEADLINE,
        ],
    )
    pods = [pod("web-7d9f8b6c5-a1", ("ImagePullBackOff", 'Back-off pulling image "x"'))]
    events = [
        event("web-7d9f8b6c5-a1", "Failed", PULL_ERROR, "2026-05-01T12:00:02Z"),
        event("web-7d9f8b6c5-a1", "BackOff", 'Back-off pulling image "x"', "2026-05-01T12:00:40Z"),
    ]

    observation = interpret_deployment(live, pods, events)

    assert observation.phase == "failed"
    assert observation.reason == (
        'ProgressDeadlineExceeded: ReplicaSet "web-7d9f8b6c5" has timed out progressing; '
        f"ErrImagePull: {PULL_ERROR}"
    )


def test_progress_deadline_without_pods_still_fails() -> None:
    live = live_deployment(status={"replicas": 3}, conditions=[DEADLINE])

    observation = interpret_deployment(live)

    assert observation.phase == "failed"
    assert observation.reason is not None
    assert observation.reason.startswith("ProgressDeadlineExceeded: ")


def test_a_deadline_about_an_older_spec_does_not_fail_the_new_one() -> None:
    # A fix was applied (generation 2); the controller has not looked at it yet.
    live = live_deployment(generation=2, observed=1, status={"replicas": 3}, conditions=[DEADLINE])

    assert interpret_deployment(live).phase == "progressing"


def test_progressing_carries_the_latest_pull_error_while_waiting() -> None:
    live = live_deployment(
        status={"replicas": 3, "updatedReplicas": 3},
        conditions=[condition("Progressing", "True", "ReplicaSetUpdated", "progressing")],
    )
    pods = [pod("web-1", ("ErrImagePull", "not found"))]

    observation = interpret_deployment(live, pods)

    assert observation.phase == "progressing"
    assert observation.reason == "ErrImagePull: not found"


def test_a_deployment_being_deleted_is_missing() -> None:
    live = live_deployment(status=COMPLETE)
    live["metadata"]["deletionTimestamp"] = "2026-05-01T12:01:00Z"

    assert interpret_deployment(live).phase == "missing"


# --- the pods' problem ------------------------------------------------------------


def test_no_problem_when_pods_are_fine() -> None:
    events = [event("web-1", "Pulled", "already present", "2026-05-01T12:00:02Z", "Normal")]

    assert pod_problem([pod("web-1")], events) is None


def test_starting_containers_are_not_a_problem() -> None:
    assert pod_problem([pod("web-1", ("ContainerCreating", ""))]) is None


def test_the_pull_error_outranks_the_back_off_even_when_older() -> None:
    events = [
        event("web-1", "ErrImagePull", 'Failed to pull image "a:1": gone', "2026-05-01T12:00:01Z"),
        event("web-1", "ImagePullBackOff", 'Back-off pulling image "a:1"', "2026-05-01T12:00:30Z"),
    ]

    assert (
        pod_problem([not_ready("web-1")], events)
        == 'ErrImagePull: Failed to pull image "a:1": gone'
    )


def test_back_off_alone_is_reported() -> None:
    events = [
        event("web-1", "ImagePullBackOff", 'Back-off pulling image "a:1"', "2026-05-01T12:00:30Z")
    ]

    assert pod_problem([not_ready("web-1")], events) == (
        'ImagePullBackOff: Back-off pulling image "a:1"'
    )


def test_the_newest_of_equal_problems_wins() -> None:
    events = [
        event("web-1", "Unhealthy", "Readiness probe failed: old", "2026-05-01T12:00:01Z"),
        event("web-2", "Unhealthy", "Readiness probe failed: new", "2026-05-01T12:00:09Z"),
    ]

    assert pod_problem([not_ready("web-1"), not_ready("web-2")], events) == (
        "Unhealthy: Readiness probe failed: new"
    )


def test_past_trouble_of_a_pod_that_is_ready_now_is_history() -> None:
    # The image was loaded after a failed pull: the pod runs, its old event remains.
    events = [event("web-1", "ErrImagePull", "not loaded", "2026-05-01T12:00:01Z")]

    assert pod_problem([pod("web-1")], events) is None


def test_events_of_pods_that_are_gone_are_history() -> None:
    events = [event("web-old", "ErrImagePull", "gone", "2026-05-01T12:00:01Z")]

    assert pod_problem([not_ready("web-new")], events) is None


def test_a_crash_loop_from_the_container_status() -> None:
    pods = [pod("web-1", ("CrashLoopBackOff", "back-off 40s restarting failed container"))]

    assert pod_problem(pods) == "CrashLoopBackOff: back-off 40s restarting failed container"


# --- Services ---------------------------------------------------------------------


def live_service(
    kind: str = "ClusterIP", ingress: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    port: dict[str, Any] = {"name": "app", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    if kind != "ClusterIP":
        port["nodePort"] = 31234
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "77"},
        "spec": {
            "type": kind,
            "clusterIP": "10.96.14.3",
            "clusterIPs": ["10.96.14.3"],
            "selector": {"slipway.io/id": "d-1"},
            "ports": [port],
        },
        "status": {"loadBalancer": {"ingress": ingress} if ingress else {}},
    }


def endpoints(ready: list[str], not_ready: tuple[str, ...] = ()) -> dict[str, Any]:
    subset: dict[str, Any] = {"ports": [{"name": "app", "port": 8080, "protocol": "TCP"}]}
    if ready:
        subset["addresses"] = [{"ip": ip, "targetRef": {"kind": "Pod"}} for ip in ready]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"kind": "Endpoints", "metadata": {"name": "web"}, "subsets": [subset]}


@pytest.mark.parametrize("kind", ["ClusterIP", "NodePort"])
def test_a_service_with_ready_endpoints_is_active(kind: str) -> None:
    observation = interpret_service(live_service(kind), endpoints(["10.244.0.7", "10.244.0.5"]))

    assert observation.phase == "active"
    assert observation.endpoints == ["10.244.0.5:8080", "10.244.0.7:8080"]
    assert observation.cluster_ip == "10.96.14.3"
    assert observation.node_port == (31234 if kind == "NodePort" else None)
    assert (observation.live_port, observation.live_target_port) == (80, 8080)


def test_a_service_without_endpoints_is_pending() -> None:
    observation = interpret_service(live_service(), None)

    assert observation.phase == "pending"
    assert observation.reason == NO_READY_ENDPOINTS
    assert observation.endpoints == []


def test_not_ready_endpoints_are_counted_in_the_reason() -> None:
    observation = interpret_service(live_service(), endpoints([], ("10.244.0.5", "10.244.0.6")))

    assert observation.phase == "pending"
    assert observation.reason == f"{NO_READY_ENDPOINTS} (2 pod(s) not ready)"


def test_a_load_balancer_without_ingress_waits_for_the_tunnel() -> None:
    observation = interpret_service(live_service("LoadBalancer"), endpoints(["10.244.0.5"]))

    assert observation.phase == "pending"
    assert observation.reason == WAITING_FOR_LOAD_BALANCER
    assert "minikube tunnel" in (observation.reason or "")


def test_a_load_balancer_with_ingress_and_endpoints_is_active() -> None:
    live = live_service("LoadBalancer", [{"ip": "127.0.0.1", "ipMode": "VIP"}])

    observation = interpret_service(live, endpoints(["10.244.0.5"]))

    assert observation.phase == "active"
    assert observation.ingress == ["127.0.0.1"]
    assert observation.node_port == 31234


def test_a_missing_service() -> None:
    assert interpret_service(None, None).phase == "missing"


def test_observations_do_not_change_the_objects() -> None:
    live = live_deployment(status=COMPLETE, conditions=[DEADLINE])
    before = copy.deepcopy(live)

    interpret_deployment(live, [pod("web-1")], [])

    assert live == before
