"""KubernetesWorkloads against a real simulated cluster through the official client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from slipway_contracts.entities import Deployment, Placement
from slipway_workload_manager.adapters.kubernetes import KubernetesWorkloads
from slipway_workload_manager.domain.manifests import (
    deployment_manifest,
    deployment_objects,
    objects_of,
    service_manifest,
)
from slipway_workload_manager.domain.ports import (
    LABEL_ID,
    ClusterAccess,
    ClusterRejected,
    ClusterUnreachable,
    RolloutObservation,
)
from slipway_workload_manager.domain.rollout import WAITING_FOR_LOAD_BALANCER
from tests.helpers import image_archive

from .conftest import (
    IMAGE,
    MISSING_IMAGE,
    Cluster,
    deployment_entity,
    service_entity,
    start_cluster,
    stop_cluster,
    until,
)

pytestmark = pytest.mark.asyncio


async def test_ensure_namespace_creates_it_once(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    name = f"ns-{cluster.namespace()}"  # a name nobody created yet

    await workloads.ensure_namespace(cluster.access, name)
    await workloads.ensure_namespace(cluster.access, name)  # exists: nothing to do

    live = cluster.core.read_namespace(name)
    assert live.metadata.labels["app.kubernetes.io/managed-by"] == "slipway"
    assert live.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert live.metadata.labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert live.metadata.labels["pod-security.kubernetes.io/audit"] == "restricted"


async def test_a_namespace_deleted_after_it_was_ensured_is_made_again_by_the_next_apply(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = await in_a_namespace_deleted_since(cluster, workloads, "gone")
    await workloads.ensure_namespace(cluster.access, entity.namespace)  # known: not read again
    for manifest in deployment_objects(entity, IMAGE):
        await workloads.apply(cluster.access, manifest)

    live = cluster.core.read_namespace(entity.namespace)
    assert live.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert (
        cluster.apps.read_namespaced_deployment("web", entity.namespace).metadata.labels[LABEL_ID]
        == entity.id
    )


async def test_the_pod_metrics_of_a_namespace_come_by_deployment(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    namespace = cluster.namespace()
    web = deployment_entity(namespace, replicas=2)
    api = deployment_entity(namespace, name="api", replicas=1)
    for entity in (web, api):
        await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
    for entity in (web, api):
        observed = await workloads.wait_deployment(cluster.access, namespace, entity.name, 30)
        assert observed.phase == "available"

    metrics = await workloads.namespace_pod_metrics(cluster.access, namespace)

    assert metrics is not None
    assert sorted((i, len(pods)) for i, pods in metrics.items()) == sorted(
        [(web.id, 2), (api.id, 1)]
    )
    assert all(pod["containers"] for pods in metrics.values() for pod in pods)


async def test_only_namespaces_slipway_made_get_the_pod_security_labels(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    foreign = cluster.namespace()
    earlier = f"ns-{cluster.namespace()}"  # made by a Slipway that did not label them yet
    cluster.core.create_namespace(
        {"metadata": {"name": earlier, "labels": {"app.kubernetes.io/managed-by": "slipway"}}}
    )
    by_hand = f"ns-{cluster.namespace()}"  # Slipway's, its level chosen by someone since
    cluster.core.create_namespace(
        {
            "metadata": {
                "name": by_hand,
                "labels": {
                    "app.kubernetes.io/managed-by": "slipway",
                    "pod-security.kubernetes.io/enforce": "baseline",
                },
            }
        }
    )

    for name in (foreign, earlier, by_hand):
        await workloads.ensure_namespace(cluster.access, name)

    def labels(name: str) -> dict[str, str]:
        return dict(cluster.core.read_namespace(name).metadata.labels or {})

    assert "pod-security.kubernetes.io/enforce" not in labels(foreign)
    assert labels(earlier)["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels(earlier)["pod-security.kubernetes.io/audit-version"] == "latest"
    assert labels(by_hand)["pod-security.kubernetes.io/enforce"] == "baseline"
    assert "pod-security.kubernetes.io/warn" not in labels(by_hand)


async def test_a_deployments_account_and_policy_are_applied_found_and_deleted(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=1)
    for manifest in deployment_objects(entity, IMAGE):
        await workloads.apply(cluster.access, manifest)
    networking = k8s.NetworkingV1Api(cluster.api)

    policies = await workloads.managed(cluster.access, "NetworkPolicy")
    accounts = await workloads.managed(cluster.access, "ServiceAccount")
    live = networking.read_namespaced_network_policy("web", entity.namespace)

    assert policies[entity.id]["kind"] == "NetworkPolicy"
    assert policies[entity.id]["spec"]["podSelector"] == {"matchLabels": {LABEL_ID: entity.id}}
    assert accounts[entity.id]["metadata"]["name"] == "web-sa"
    assert accounts[entity.id]["automountServiceAccountToken"] is False
    assert live.metadata.managed_fields[0].manager == "slipway"
    for kind, name in objects_of("Deployment", "web"):
        assert await workloads.delete(cluster.access, kind, entity.namespace, name) is True
        assert await workloads.delete(cluster.access, kind, entity.namespace, name) is False
    assert entity.id not in await workloads.managed(cluster.access, "NetworkPolicy")
    assert entity.id not in await workloads.managed(cluster.access, "ServiceAccount")


async def test_a_deployment_rolls_out_with_secure_defaults(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=3)

    await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
    observation = await workloads.wait_deployment(cluster.access, entity.namespace, "web", 30)

    assert observation.phase == "available"
    assert (observation.desired, observation.available, observation.updated) == (3, 3, 3)
    live = cluster.apps.read_namespaced_deployment("web", entity.namespace)
    assert live.status.available_replicas == 3
    assert live.metadata.labels[LABEL_ID] == entity.id
    pod = live.spec.template.spec
    container = pod.containers[0]
    assert pod.security_context.run_as_non_root is True
    assert pod.security_context.run_as_user == 65532
    assert pod.automount_service_account_token is False
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.read_only_root_filesystem is True
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.resources.limits == {"cpu": "500m", "memory": "128Mi"}
    assert container.resources.requests == {"cpu": "50m", "memory": "32Mi"}
    assert container.liveness_probe.tcp_socket.port == 8080
    assert container.readiness_probe.tcp_socket.port == 8080


async def test_the_placement_survives_the_round_trip_and_a_reapply_without_it_removes_it(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    anti = {"topology_key": "kubernetes.io/hostname", "required": True}
    entity = deployment_entity(
        cluster.namespace(), replicas=2, placement={"pod_anti_affinity": [anti]}
    )
    await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
    assert (await workloads.wait_deployment(cluster.access, entity.namespace, "web", 30)).phase == (
        "available"
    )

    pod = cluster.apps.read_namespaced_deployment("web", entity.namespace).spec.template.spec
    [term] = pod.affinity.pod_anti_affinity.required_during_scheduling_ignored_during_execution
    assert (term.topology_key, term.label_selector.match_labels) == (
        "kubernetes.io/hostname",
        {LABEL_ID: entity.id},
    )
    [spread] = pod.topology_spread_constraints
    assert (spread.topology_key, spread.max_skew, spread.when_unsatisfiable) == (
        "kubernetes.io/hostname",
        1,
        "ScheduleAnyway",
    )

    # Server-side apply: what Slipway no longer sets is removed from the live object.
    unplaced = entity.model_copy(update={"placement": Placement(topology_spread=[]), "revision": 2})
    await workloads.apply(cluster.access, deployment_manifest(unplaced, IMAGE))
    pod = cluster.apps.read_namespaced_deployment("web", entity.namespace).spec.template.spec
    assert pod.affinity is None and pod.topology_spread_constraints is None


async def test_applying_the_same_entity_twice_changes_nothing(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=1)
    manifest = deployment_manifest(entity, IMAGE)

    await workloads.apply(cluster.access, manifest)
    first = cluster.apps.read_namespaced_deployment("web", entity.namespace)
    await workloads.apply(cluster.access, manifest)
    second = cluster.apps.read_namespaced_deployment("web", entity.namespace)

    assert second.metadata.generation == first.metadata.generation == 1
    assert second.metadata.uid == first.metadata.uid


async def test_scaling_by_reapplying(cluster: Cluster, workloads: KubernetesWorkloads) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=3)
    await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
    assert (await workloads.wait_deployment(cluster.access, entity.namespace, "web", 30)).phase == (
        "available"
    )
    pods_before = {
        pod.metadata.name for pod in cluster.core.list_namespaced_pod(entity.namespace).items
    }

    scaled = entity.model_copy(update={"replicas": 5, "revision": 2})
    await workloads.apply(cluster.access, deployment_manifest(scaled, IMAGE))
    observation = await workloads.wait_deployment(cluster.access, entity.namespace, "web", 30)

    assert observation.phase == "available"
    assert (observation.desired, observation.available) == (5, 5)
    live = cluster.apps.read_namespaced_deployment("web", entity.namespace)
    assert live.metadata.generation == 2
    assert live.metadata.annotations["slipway.io/revision"] == "2"
    pods_after = {
        pod.metadata.name for pod in cluster.core.list_namespaced_pod(entity.namespace).items
    }
    assert pods_before < pods_after, "a scale adds pods; it does not replace the running ones"


@pytest.mark.slow
async def test_an_image_the_cluster_cannot_get_fails_by_the_progress_deadline(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=2, progress_deadline_seconds=10)
    await workloads.apply(cluster.access, deployment_manifest(entity, MISSING_IMAGE))

    # While it waits, the user already sees why.
    waiting = await until(
        lambda: workloads.observe_deployment(cluster.access, entity.namespace, "web"),
        lambda observation: observation.reason is not None,
        what="the image pull error",
    )
    short = await workloads.wait_deployment(cluster.access, entity.namespace, "web", 0.5)
    failed = await workloads.wait_deployment(cluster.access, entity.namespace, "web", 30)

    assert waiting.phase == "progressing"
    assert waiting.reason.startswith(("ErrImagePull: ", "ImagePullBackOff: "))
    assert MISSING_IMAGE in waiting.reason
    assert short.phase == "progressing", "a wait that times out returns the latest observation"
    assert failed.phase == "failed"
    assert failed.reason.startswith("ProgressDeadlineExceeded: ")
    assert "ErrImagePull" in failed.reason and MISSING_IMAGE in failed.reason
    assert failed.available == 0 and failed.desired == 2


async def test_a_cluster_ip_service_becomes_active_with_endpoints(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=2)
    service = service_entity(entity)
    await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
    await workloads.apply(cluster.access, service_manifest(service, entity))

    observation = await until(
        lambda: workloads.observe_service(cluster.access, entity.namespace, "web"),
        lambda found: found.phase == "active" and len(found.endpoints) == 2,
        what="ready endpoints",
    )

    assert observation.cluster_ip and observation.cluster_ip.startswith("10.")
    assert all(endpoint.endswith(":8080") for endpoint in observation.endpoints)
    assert (observation.live_port, observation.live_target_port) == (80, 8080)
    assert observation.node_port is None


async def test_a_service_without_ready_pods_is_pending(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=1)
    await workloads.apply(cluster.access, deployment_manifest(entity, MISSING_IMAGE))
    await workloads.apply(cluster.access, service_manifest(service_entity(entity), entity))

    observation = await workloads.observe_service(cluster.access, entity.namespace, "web")

    assert observation.phase == "pending"
    assert observation.reason is not None and "no ready endpoints" in observation.reason


async def test_a_load_balancer_waits_for_the_tunnel(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=1)
    service = service_entity(entity, type="LoadBalancer")
    await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
    await workloads.apply(cluster.access, service_manifest(service, entity))
    await workloads.wait_deployment(cluster.access, entity.namespace, "web", 30)

    pending = await until(
        lambda: workloads.observe_service(cluster.access, entity.namespace, "web"),
        lambda found: bool(found.endpoints),
        what="ready endpoints",
    )
    await cluster.simulated.set_tunnel(True)
    try:
        active = await until(
            lambda: workloads.observe_service(cluster.access, entity.namespace, "web"),
            lambda found: found.phase == "active",
            what="the tunnel's address",
        )
    finally:
        await cluster.simulated.set_tunnel(False)

    assert pending.phase == "pending" and pending.reason == WAITING_FOR_LOAD_BALANCER
    assert pending.node_port is not None
    assert active.ingress == ["127.0.0.1"]


async def test_delete_removes_the_objects_once(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=1)
    await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
    await workloads.apply(cluster.access, service_manifest(service_entity(entity), entity))

    assert await workloads.delete(cluster.access, "Deployment", entity.namespace, "web") is True
    assert await workloads.delete(cluster.access, "Deployment", entity.namespace, "web") is False
    assert await workloads.delete(cluster.access, "Service", entity.namespace, "web") is True
    assert await workloads.delete(cluster.access, "Service", entity.namespace, "web") is False

    gone = await workloads.observe_deployment(cluster.access, entity.namespace, "web")
    assert gone.phase == "missing"
    assert (await workloads.observe_service(cluster.access, entity.namespace, "web")).phase == (
        "missing"
    )
    await until(
        lambda: asyncio.to_thread(cluster.core.list_namespaced_pod, entity.namespace),
        lambda pods: not pods.items,
        what="the pods to go with their Deployment",
    )


async def test_managed_finds_slipways_objects_by_id(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    namespace = cluster.namespace()
    first = deployment_entity(namespace, name="alpha", replicas=1)
    second = deployment_entity(namespace, name="beta", replicas=1)
    service = service_entity(first, name="alpha")
    for manifest in (
        deployment_manifest(first, IMAGE),
        deployment_manifest(second, IMAGE),
        service_manifest(service, first),
    ):
        await workloads.apply(cluster.access, manifest)
    # Something Slipway did not make is not Slipway's.
    cluster.apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "foreign"},
            "spec": {
                "selector": {"matchLabels": {"app": "foreign"}},
                "template": {
                    "metadata": {"labels": {"app": "foreign"}},
                    "spec": {"containers": [{"name": "c", "image": IMAGE}]},
                },
            },
        },
    )

    deployments = await workloads.managed(cluster.access, "Deployment")
    services = await workloads.managed(cluster.access, "Service")

    assert deployments[first.id]["metadata"]["name"] == "alpha"
    assert deployments[second.id]["metadata"]["name"] == "beta"
    assert deployments[first.id]["kind"] == "Deployment"
    assert deployments[first.id]["metadata"]["namespace"] == namespace
    assert "foreign" not in {item["metadata"]["name"] for item in deployments.values()}
    assert services[service.id]["spec"]["selector"] == {LABEL_ID: first.id}


async def test_changes_behind_slipways_back_are_visible(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=2)
    await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
    await workloads.wait_deployment(cluster.access, entity.namespace, "web", 30)

    cluster.apps.patch_namespaced_deployment("web", entity.namespace, {"spec": {"replicas": 4}})
    scaled = await workloads.observe_deployment(cluster.access, entity.namespace, "web")
    cluster.apps.delete_namespaced_deployment("web", entity.namespace)
    deleted = await workloads.observe_deployment(cluster.access, entity.namespace, "web")
    waited = await workloads.wait_deployment(cluster.access, entity.namespace, "web", 5)

    assert scaled.live_replicas == 4 and scaled.live_image == IMAGE
    assert deleted.phase == "missing"
    assert waited.phase == "missing"
    assert entity.id not in await workloads.managed(cluster.access, "Deployment")


async def wait_on_a_stuck_rollout(
    cluster: Cluster, workloads: KubernetesWorkloads, stuck: Deployment, timeout_s: float
) -> asyncio.Task[RolloutObservation]:
    """Apply `stuck` with an image the cluster cannot get and wait on its rollout; the
    waiting task, once the cluster says why the rollout does not progress."""
    await workloads.apply(cluster.access, deployment_manifest(stuck, MISSING_IMAGE))
    waiting = asyncio.create_task(
        workloads.wait_deployment(cluster.access, stuck.namespace, stuck.name, timeout_s)
    )
    await until(
        lambda: workloads.observe_deployment(cluster.access, stuck.namespace, stuck.name),
        lambda observation: observation.reason is not None,
        what="the rollout to be stuck",
    )
    return waiting


async def test_a_deployment_deleted_while_waiting_ends_the_wait(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = deployment_entity(cluster.namespace(), replicas=1)
    waiting = await wait_on_a_stuck_rollout(cluster, workloads, entity, 30)
    await workloads.delete(cluster.access, "Deployment", entity.namespace, "web")

    observation = await asyncio.wait_for(waiting, 10)
    assert observation.phase == "missing"


async def test_a_cancelled_wait_gives_its_thread_back(cluster: Cluster) -> None:
    # One watch thread only: a cancelled wait still holding it would block the next one.
    workloads = KubernetesWorkloads(max_watches=1)
    try:
        stuck = deployment_entity(cluster.namespace(), replicas=1)
        fine = deployment_entity(cluster.namespace(), replicas=1)
        await workloads.apply(cluster.access, deployment_manifest(fine, IMAGE))

        waiting = await wait_on_a_stuck_rollout(cluster, workloads, stuck, 60)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        observation = await asyncio.wait_for(
            workloads.wait_deployment(cluster.access, fine.namespace, "web", 30), 10
        )

        assert observation.phase == "available"
    finally:
        workloads.close()


async def test_the_api_servers_refusal_is_reported_with_its_message(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    manifest = deployment_manifest(deployment_entity(cluster.namespace()), IMAGE)
    manifest["spec"]["replicas"] = -1

    with pytest.raises(ClusterRejected) as refused:
        await workloads.apply(cluster.access, manifest)

    assert "spec.replicas" in refused.value.message


@pytest.mark.slow
async def test_many_rollouts_at_once(cluster: Cluster, workloads: KubernetesWorkloads) -> None:
    namespace = cluster.namespace()
    entities = [
        deployment_entity(namespace, name=f"web-{index}", replicas=1) for index in range(200)
    ]

    async def roll_out(entity: Deployment) -> str:
        await workloads.apply(cluster.access, deployment_manifest(entity, IMAGE))
        observation = await workloads.wait_deployment(cluster.access, namespace, entity.name, 60)
        return observation.phase

    phases = await asyncio.gather(*(roll_out(entity) for entity in entities))

    assert phases == ["available"] * len(entities)


async def test_waiting_on_a_deployment_older_than_the_watch_history(
    tmp_path: Path, workloads: KubernetesWorkloads
) -> None:
    busy = await start_cluster(tmp_path, "busy", watch_history=20)
    try:
        namespace = busy.namespace()
        late_image = "registry.local/shop/late:1.0.0"
        entity = deployment_entity(namespace, replicas=1)
        await workloads.apply(busy.access, deployment_manifest(entity, late_image))
        version = busy.apps.read_namespaced_deployment("web", namespace).metadata.resource_version
        for index in range(30):  # more changes than the cluster's watch history keeps
            busy.core.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{index}"}})
        with pytest.raises(ApiException) as expired:
            for _ in k8s_watch.Watch().stream(
                busy.apps.list_namespaced_deployment,
                namespace,
                resource_version=version,
                timeout_seconds=2,
            ):
                pass
        # A watch from the object's own version would be 410 Gone: the wait must start
        # from a version the history still holds.
        assert expired.value.status == 410

        waiting = asyncio.create_task(workloads.wait_deployment(busy.access, namespace, "web", 60))
        await busy.simulated.load_images(image_archive(late_image))
        observation = await asyncio.wait_for(waiting, 15)

        assert observation.phase == "available"
    finally:
        await stop_cluster(busy)


async def test_an_unreachable_cluster_and_its_return(
    tmp_path: Path, workloads: KubernetesWorkloads
) -> None:
    other = await start_cluster(tmp_path, "flaky")
    try:
        access = other.access
        namespace = other.namespace()
        assert (await workloads.observe_deployment(access, namespace, "web")).phase == "missing"

        await other.process.stop()
        with pytest.raises(ClusterUnreachable):
            await workloads.observe_deployment(access, namespace, "web")
        with pytest.raises(ClusterUnreachable):
            await workloads.apply(access, deployment_manifest(deployment_entity(namespace), IMAGE))

        await other.process.start()  # same state and port: the same kubeconfig
        assert other.access == access
        observation = await workloads.observe_deployment(access, namespace, "web")
        assert observation.phase == "missing"
    finally:
        await stop_cluster(other)


async def test_an_unusable_kubeconfig_is_refused(workloads: KubernetesWorkloads) -> None:
    with pytest.raises(ClusterRejected):
        await workloads.observe_deployment(
            ClusterAccess("broken", "apiVersion: v1\nkind: Config\n"), "default", "web"
        )


async def test_a_deployment_applied_by_its_wait_is_followed_without_reading_it_again(
    cluster: Cluster, workloads: KubernetesWorkloads, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = cluster.namespace()
    # A rollout already waits in the namespace: its shared watch runs.
    stuck = deployment_entity(namespace, name="stuck", replicas=1)
    waiting = await wait_on_a_stuck_rollout(cluster, workloads, stuck, 30)
    reads: list[str] = []
    read = workloads._read_deployment
    monkeypatch.setattr(
        workloads,
        "_read_deployment",
        lambda api, namespace, name: reads.append(name) or read(api, namespace, name),
    )
    entity = deployment_entity(namespace, replicas=2)

    observation = await workloads.wait_deployment(
        cluster.access, namespace, "web", 30, applying=deployment_manifest(entity, IMAGE)
    )

    assert (observation.phase, observation.available, observation.live_image) == (
        "available",
        2,
        IMAGE,
    )
    assert reads == []  # the apply's answer and the watch said it all
    live = cluster.apps.read_namespaced_deployment("web", namespace)
    assert live.metadata.labels[LABEL_ID] == entity.id
    await workloads.delete(cluster.access, "Deployment", namespace, "stuck")
    assert (await asyncio.wait_for(waiting, 10)).phase == "missing"


async def test_a_wait_that_applies_into_a_namespace_deleted_since_makes_it_again(
    cluster: Cluster, workloads: KubernetesWorkloads
) -> None:
    entity = await in_a_namespace_deleted_since(cluster, workloads, "again")
    observation = await workloads.wait_deployment(
        cluster.access, entity.namespace, "web", 30, applying=deployment_manifest(entity, IMAGE)
    )

    assert observation.phase == "available"
    assert (
        cluster.core.read_namespace(entity.namespace).metadata.labels[
            "pod-security.kubernetes.io/enforce"
        ]
        == "restricted"
    )


async def in_a_namespace_deleted_since(
    cluster: Cluster, workloads: KubernetesWorkloads, prefix: str
) -> Deployment:
    """A deployment entity whose namespace was ensured, then deleted (and is gone)."""
    entity = deployment_entity(f"{prefix}-{cluster.namespace()}", replicas=1)
    await workloads.ensure_namespace(cluster.access, entity.namespace)
    cluster.core.delete_namespace(entity.namespace)

    async def namespaces() -> list[str]:
        found = await asyncio.to_thread(cluster.core.list_namespace)
        return [n.metadata.name for n in found.items]

    await until(namespaces, lambda names: entity.namespace not in names, what="namespace gone")
    return entity
