"""Deployments on the simulated cluster through the official Kubernetes client."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import watch
from kubernetes.client.rest import ApiException

from tests.helpers import image_archive
from tests.integration.simcluster.conftest import (
    WEB_IMAGE_V2,
    RunningCluster,
    condition,
    deployment_body,
)
from tests.waiting import poll


def available(
    cluster: RunningCluster, namespace: str, name: str, replicas: int
) -> k8s.V1Deployment | None:
    deployment = cluster.apps.read_namespaced_deployment(name, namespace)
    status = deployment.status
    if (
        status.available_replicas == replicas
        and status.updated_replicas == replicas
        and status.replicas == replicas
        and status.observed_generation == deployment.metadata.generation
    ):
        return deployment
    return None


def test_deployment_becomes_available_and_watch_sees_it(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    created = cluster.apps.create_namespaced_deployment(
        namespace, deployment_body("web", replicas=3)
    )
    events: list[tuple[str, dict[str, Any]]] = []

    def follow() -> None:
        stream = watch.Watch().stream(
            cluster.apps.list_namespaced_deployment,
            namespace,
            resource_version=created.metadata.resource_version,
            timeout_seconds=10,
        )
        for event in stream:
            events.append((event["type"], event["raw_object"]))
            if (event["raw_object"].get("status") or {}).get("availableReplicas") == 3:
                return

    follower = threading.Thread(target=follow)
    follower.start()
    deployment = poll(lambda: available(cluster, namespace, "web", 3), what="3 available replicas")
    follower.join(timeout=15)

    assert created.metadata.generation == 1 and created.metadata.uid
    assert condition(deployment, "Available").status == "True"
    progressing = condition(deployment, "Progressing")
    assert (progressing.status, progressing.reason) == ("True", "NewReplicaSetAvailable")
    pods = cluster.core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 3
    assert all(pod.status.phase == "Running" for pod in pods)
    assert all(
        c.status == "True" for pod in pods for c in pod.status.conditions if c.type == "Ready"
    )
    [replica_set] = cluster.apps.list_namespaced_replica_set(namespace).items
    assert replica_set.metadata.owner_references[0].name == "web"
    assert replica_set.status.ready_replicas == 3
    assert all(pod.metadata.owner_references[0].uid == replica_set.metadata.uid for pod in pods)
    assert {kind for kind, _ in events} == {"MODIFIED"}
    assert events[-1][1]["status"]["availableReplicas"] == 3
    versions = [int(obj["metadata"]["resourceVersion"]) for _, obj in events]
    assert versions == sorted(versions) and versions[0] > int(created.metadata.resource_version)


def test_scaling_to_five_makes_five_available(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    cluster.apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=3))
    poll(lambda: available(cluster, namespace, "web", 3), what="3 available replicas")

    scale = cluster.apps.patch_namespaced_deployment_scale(
        "web", namespace, {"spec": {"replicas": 5}}
    )
    deployment = poll(lambda: available(cluster, namespace, "web", 5), what="5 available replicas")

    assert scale.spec.replicas == 5 and scale.status.selector == "app=web"
    assert deployment.metadata.generation == 2
    assert cluster.apps.read_namespaced_deployment_scale("web", namespace).status.replicas == 5
    messages = {
        e.message
        for e in cluster.core.list_namespaced_event(namespace).items
        if e.reason == "ScalingReplicaSet"
    }
    assert any(message.endswith("from 3 to 5") for message in messages)


def test_missing_image_pulls_fail_then_the_progress_deadline_is_exceeded(
    cluster: RunningCluster,
) -> None:
    namespace = cluster.namespace()
    image = f"registry.local/shop/missing:{namespace}"
    cluster.apps.create_namespaced_deployment(
        namespace, deployment_body("broken", replicas=2, image=image, progressDeadlineSeconds=2)
    )

    def reasons() -> set[str]:
        return {e.reason for e in cluster.core.list_namespaced_event(namespace).items}

    poll(
        lambda: {"ErrImagePull", "ImagePullBackOff"} <= reasons(), what="image pull failure events"
    )
    pod = cluster.core.list_namespaced_pod(namespace).items[0]
    waiting = pod.status.container_statuses[0].state.waiting
    deployment = poll(
        lambda: (
            (d := cluster.apps.read_namespaced_deployment("broken", namespace))
            and condition(d, "Progressing").reason == "ProgressDeadlineExceeded"
            and d
        ),
        what="ProgressDeadlineExceeded",
    )

    assert waiting.reason in ("ErrImagePull", "ImagePullBackOff")
    assert pod.status.phase == "Pending"
    progressing = condition(deployment, "Progressing")
    assert progressing.status == "False"
    assert condition(deployment, "Available").status == "False"
    assert not deployment.status.available_replicas and deployment.status.unavailable_replicas == 2

    # Loading the image lets the stuck rollout finish, as on a real cluster.
    asyncio.run(cluster.simulated.load_images(image_archive(image)))
    recovered = poll(lambda: available(cluster, namespace, "broken", 2), what="recovery")
    assert condition(recovered, "Progressing").reason == "NewReplicaSetAvailable"


def test_rolling_update_replaces_every_pod(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    cluster.apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=3))
    poll(lambda: available(cluster, namespace, "web", 3), what="first rollout")
    first_pods = {p.metadata.name for p in cluster.core.list_namespaced_pod(namespace).items}

    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": WEB_IMAGE_V2}]}}}
    }
    cluster.apps.patch_namespaced_deployment("web", namespace, patch)
    deployment = poll(lambda: available(cluster, namespace, "web", 3), what="second rollout")

    pods = cluster.core.list_namespaced_pod(namespace).items
    assert deployment.metadata.generation == 2
    assert deployment.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    assert {p.spec.containers[0].image for p in pods} == {WEB_IMAGE_V2}
    assert not first_pods & {p.metadata.name for p in pods}
    revisions = {
        rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs.spec.replicas
        for rs in cluster.apps.list_namespaced_replica_set(namespace).items
    }
    assert revisions == {"1": 0, "2": 3}, "the old ReplicaSet stays, scaled to zero, for rollbacks"
    assert pods[0].spec.containers[0].ports[0].container_port == 8080, (
        "strategic merge kept the port"
    )


def test_deleted_pod_is_replaced(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    cluster.apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=2))
    poll(lambda: available(cluster, namespace, "web", 2), what="rollout")
    victim = cluster.core.list_namespaced_pod(namespace).items[0].metadata.name

    deleted = cluster.core.delete_namespaced_pod(victim, namespace)

    assert deleted.metadata.name == victim and deleted.metadata.deletion_timestamp
    names = poll(
        lambda: (
            (names := {p.metadata.name for p in cluster.core.list_namespaced_pod(namespace).items})
            and victim not in names
            and len(names) == 2
            and names
        ),
        what="a replacement pod",
    )
    assert victim not in names
    poll(lambda: available(cluster, namespace, "web", 2), what="availability after repair")


def test_deleting_a_deployment_deletes_its_pods(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    cluster.apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=2))
    poll(lambda: available(cluster, namespace, "web", 2), what="rollout")

    answer = cluster.apps.delete_namespaced_deployment("web", namespace)

    assert (answer["kind"], answer["status"]) == ("Status", "Success")
    poll(lambda: not cluster.core.list_namespaced_pod(namespace).items, what="pods to be collected")
    with pytest.raises(ApiException) as missing:
        cluster.apps.read_namespaced_deployment("web", namespace)
    assert missing.value.status == 404


def test_write_conflicts_and_duplicates(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    created = cluster.apps.create_namespaced_deployment(
        namespace, deployment_body("web", replicas=1)
    )
    fresh = cluster.apps.read_namespaced_deployment("web", namespace)
    fresh.spec.replicas = 2
    cluster.apps.replace_namespaced_deployment("web", namespace, fresh)

    created.spec.replicas = 4  # still carries the first resourceVersion
    with pytest.raises(ApiException) as conflict:
        cluster.apps.replace_namespaced_deployment("web", namespace, created)
    with pytest.raises(ApiException) as duplicate:
        cluster.apps.create_namespaced_deployment(namespace, deployment_body("web"))
    invalid = deployment_body("bad")
    invalid["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as rejected:
        cluster.apps.create_namespaced_deployment(namespace, invalid)

    assert (conflict.value.status, json.loads(conflict.value.body)["reason"]) == (409, "Conflict")
    assert (duplicate.value.status, json.loads(duplicate.value.body)["reason"]) == (
        409,
        "AlreadyExists",
    )
    assert (rejected.value.status, json.loads(rejected.value.body)["reason"]) == (422, "Invalid")
    assert cluster.apps.read_namespaced_deployment("web", namespace).spec.replicas == 2


def test_list_across_namespaces_with_label_selector(cluster: RunningCluster) -> None:
    first, second = cluster.namespace(), cluster.namespace()
    cluster.apps.create_namespaced_deployment(first, deployment_body("alpha", replicas=1))
    cluster.apps.create_namespaced_deployment(second, deployment_body("beta", replicas=1))

    everywhere = cluster.apps.list_deployment_for_all_namespaces(
        label_selector="app in (alpha,beta)"
    )
    page = cluster.apps.list_deployment_for_all_namespaces(
        label_selector="app in (alpha,beta)", limit=1
    )
    rest = cluster.apps.list_deployment_for_all_namespaces(
        label_selector="app in (alpha,beta)", limit=1, _continue=page.metadata._continue
    )

    assert {(d.metadata.namespace, d.metadata.name) for d in everywhere.items} == {
        (first, "alpha"),
        (second, "beta"),
    }
    assert len(page.items) == 1 and page.metadata.remaining_item_count == 1
    assert {page.items[0].metadata.name, rest.items[0].metadata.name} == {"alpha", "beta"}


def test_merge_patch_and_server_side_apply(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    applied = cluster.apps.patch_namespaced_deployment(
        "web",
        namespace,
        deployment_body("web", replicas=1),
        field_manager="slipway",
        _content_type="application/apply-patch+yaml",
    )
    merged = cluster.apps.patch_namespaced_deployment(
        "web", namespace, {"spec": {"replicas": 2}}, _content_type="application/merge-patch+json"
    )

    assert applied.metadata.generation == 1 and applied.spec.replicas == 1
    assert merged.spec.replicas == 2 and merged.metadata.generation == 2
    poll(lambda: available(cluster, namespace, "web", 2), what="patched rollout")
