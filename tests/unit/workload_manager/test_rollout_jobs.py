"""The rollout and apply jobs (service_layer/rollouts.py) through their handlers, against a
fake cluster and cluster-manager: outcomes, retries, the terminal end, stale jobs, progress."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slipway_contracts import subjects
from slipway_contracts.commands import ScaleDeployment, UpdateDeployment
from slipway_libs.aggregate import utcnow
from slipway_workload_manager.domain.cluster_manager import ClusterManagerRefused
from slipway_workload_manager.domain.kube_service import TUNNEL_HINT
from slipway_workload_manager.domain.manifests import pull_secret_name
from slipway_workload_manager.domain.ports import LABEL_ID, RegistryPullLogin, RolloutObservation
from slipway_workload_manager.service_layer import deployments
from tests.unit.workload_manager.fakes import (
    CLUSTER,
    IMAGE,
    SPEC,
    announce,
    cluster_event,
    create_deployment,
    create_service,
    image_event,
    outcome,
    ready,
    running_deployment,
    state_of,
)

# --- rollouts --------------------------------------------------------------------------


async def test_a_rollout_hands_the_image_over_applies_and_runs_saying_each_step(world):
    await ready(world)
    created = await create_deployment(world)
    [delivery] = await world.run_jobs()
    assert delivery.acked and not delivery.nacked
    running = state_of(world, created["id"])
    assert (running.status, running.available_replicas, running.deadline) == ("running", 3, None)
    assert world.manager.loads == [(CLUSTER.id, IMAGE.reference)]
    assert world.cluster.objects[("Deployment", "default", "web")]["spec"]["replicas"] == 3
    assert world.uow.event_types() == [
        subjects.event(subjects.DEPLOYMENT, "created"),
        subjects.event(subjects.DEPLOYMENT, "running"),
    ]
    assert world.deployment_progress.lines[created["id"]] == [
        "handing image shop/web:1.0.0 to cluster 'local'",
        "image shop/web:1.0.0 loaded",
        "applying Deployment default/web; waiting for 3 replicas",
        "3 replicas available",
    ]


async def test_a_rollout_whose_record_changed_while_it_watched_reads_it_again(world):
    await ready(world)
    created = await create_deployment(world)
    wait = world.cluster.wait_deployment

    async def another_writer_meanwhile(*args, **kwargs) -> RolloutObservation:
        row = world.deployments.rows[created["id"]]
        world.deployments.rows[created["id"]] = row.model_copy(update={"revision": 7})
        return await wait(*args, **kwargs)

    world.cluster.wait_deployment = another_writer_meanwhile
    [delivery] = await world.run_jobs()
    assert delivery.acked and not delivery.nacked
    running = state_of(world, created["id"])
    assert (running.status, running.revision, running.available_replicas) == ("running", 8, 3)
    assert world.uow.event_types()[-1] == subjects.event(subjects.DEPLOYMENT, "running")


async def test_a_rollout_applies_the_pods_account_and_network_policy_with_the_deployment(world):
    await ready(world)
    created = await create_deployment(world, namespace="shop", container_port=9000)
    await world.run_jobs()
    assert world.cluster.namespaces == {"shop"}
    account = world.cluster.objects[("ServiceAccount", "shop", "web-sa")]
    policy = world.cluster.objects[("NetworkPolicy", "shop", "web")]
    pod = world.cluster.objects[("Deployment", "shop", "web")]["spec"]["template"]["spec"]
    assert account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "web-sa" and pod["automountServiceAccountToken"] is False
    assert policy["spec"]["podSelector"] == {"matchLabels": {LABEL_ID: created["id"]}}
    assert {port["port"] for port in policy["spec"]["ingress"][0]["ports"]} == {9000}


async def test_a_new_container_port_moves_the_network_policy_with_it(world):
    created = await running_deployment(world)
    spec = {**SPEC, "container_port": 9090, "id": created["id"]}
    await deployments.update_deployment(world.deps, UpdateDeployment.model_validate(spec))
    await world.run_jobs()
    policy = world.cluster.objects[("NetworkPolicy", "default", "web")]
    assert {port["port"] for port in policy["spec"]["ingress"][0]["ports"]} == {9090}
    assert outcome(world, created["id"]) == ("running", None)


async def test_the_placement_reaches_the_cluster_and_a_put_taking_it_away_removes_it(world):
    anti = {"topology_key": "kubernetes.io/hostname", "required": True}
    created = await running_deployment(world, placement={"pod_anti_affinity": [anti]})
    pod = world.cluster.objects[("Deployment", "default", "web")]["spec"]["template"]["spec"]
    assert pod["affinity"]["podAntiAffinity"] == {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {"matchLabels": {LABEL_ID: created["id"]}},
                "topologyKey": "kubernetes.io/hostname",
            }
        ]
    }
    spec = {**SPEC, "id": created["id"]}  # no placement: the default spread only
    await deployments.update_deployment(world.deps, UpdateDeployment.model_validate(spec))
    await world.run_jobs()
    pod = world.cluster.objects[("Deployment", "default", "web")]["spec"]["template"]["spec"]
    assert "affinity" not in pod
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == [
        "kubernetes.io/hostname"
    ]
    assert outcome(world, created["id"]) == ("running", None)


async def test_many_rollouts_of_one_image_load_it_once(world):
    await ready(world)
    for index in range(5):
        await create_deployment(world, name=f"web-{index}")
    deliveries = await world.run_jobs()
    assert len(deliveries) == 5 and all(d.acked for d in deliveries)
    assert world.manager.loads == [(CLUSTER.id, IMAGE.reference)]


async def test_an_image_the_cluster_cannot_get_fails_the_rollout_with_the_load_error(world):
    await ready(world)
    world.manager.load_error = "docker save shop/web:1.0.0: No such image"
    created = await create_deployment(world)
    [delivery] = await world.run_jobs()
    assert delivery.acked
    assert outcome(world, created["id"]) == (
        "failed",
        "image load failed: docker save shop/web:1.0.0: No such image",
    )


async def test_a_cluster_that_cannot_take_images_is_left_to_pull_them_itself(world):
    await ready(world)
    world.manager.load_refusal = ClusterManagerRefused(
        "the kubeconfig driver cannot load images into an attached cluster",
        "conflict",
        {"driver_code": "UNSUPPORTED"},
    )
    created = await create_deployment(world)
    await world.run_jobs()
    assert outcome(world, created["id"]) == ("running", None)
    assert "image shop/web:1.0.0 not loaded" in world.deployment_progress.lines[created["id"]][1]


async def test_a_load_refused_because_the_cluster_just_stopped_is_retried(world):
    await ready(world)
    world.manager.load_refusal = ClusterManagerRefused("cluster 'local' is stopped", "conflict")
    created = await create_deployment(world)
    [delivery] = await world.run_jobs()
    assert delivery.nacked and not delivery.acked
    assert outcome(world, created["id"]) == ("pending", None)


async def test_a_rollout_the_cluster_reports_failed_carries_the_clusters_reason(world):
    await ready(world)
    world.cluster.rollouts["web"] = RolloutObservation(
        phase="failed", desired=3, available=1, reason="ProgressDeadlineExceeded: ErrImagePull"
    )
    created = await create_deployment(world)
    await world.run_jobs()
    state = state_of(world, created["id"])
    assert (state.status, state.reason, state.available_replicas) == (
        "failed",
        "ProgressDeadlineExceeded: ErrImagePull",
        1,
    )
    assert world.deployment_progress.lines[created["id"]][-1].startswith("rollout failed: ")


async def test_a_rollout_still_progressing_when_its_time_is_up_fails_saying_how_far_it_got(
    world,
):
    await ready(world)
    world.cluster.rollouts["web"] = RolloutObservation(phase="progressing", desired=3, available=1)
    created = await create_deployment(world)
    await world.run_jobs()
    status, reason = outcome(world, created["id"])
    assert status == "failed"
    assert reason.startswith("rollout did not finish within ")
    assert reason.endswith(" s (1/3 replicas available)")


@pytest.mark.parametrize("kind", ["ServiceAccount", "NetworkPolicy", "Deployment"])
async def test_a_manifest_the_cluster_refuses_fails_the_rollout_at_once(world, kind):
    await ready(world)
    world.cluster.rejection = "admission webhook denied the request"
    world.cluster.rejected_kinds = {kind}
    created = await create_deployment(world)
    [delivery] = await world.run_jobs()
    assert delivery.acked
    assert outcome(world, created["id"]) == (
        "failed",
        f"cluster 'local' refused the {kind}: admission webhook denied the request",
    )
    # No pod starts without its account and its network policy.
    assert ("Deployment", "default", "web") not in world.cluster.objects


async def test_an_unreachable_cluster_is_retried_then_the_rollout_fails_with_why(world):
    await ready(world)
    world.cluster.unreachable = True
    created = await create_deployment(world)
    [job] = world.queued()
    first = await world.run(job, attempt=1)
    assert first.nacked and not first.acked
    assert outcome(world, created["id"]) == ("pending", None)
    last = await world.run(job, attempt=world.deps.settings.job_max_deliver)
    assert last.acked
    status, reason = outcome(world, created["id"])
    assert status == "failed"
    assert reason == "gave up after 3 attempts: could not reach cluster 'local': connection refused"


async def test_no_kubeconfig_from_the_cluster_manager_is_retried(world):
    await ready(world)
    world.manager.unavailable = True
    created = await create_deployment(world)
    [delivery] = await world.run_jobs()
    assert delivery.nacked
    assert outcome(world, created["id"]) == ("pending", None)


async def test_a_rollout_on_a_cluster_that_stopped_fails_with_the_outage(world):
    await ready(world)
    created = await create_deployment(world)
    world.projections.rows[("minikube_cluster", CLUSTER.id)]["status"] = "stopped"
    [delivery] = await world.run_jobs()
    assert delivery.acked
    assert outcome(world, created["id"]) == ("failed", "cluster 'local' is stopped")
    assert world.cluster.objects == {}


async def test_a_job_for_a_rollout_replaced_since_is_acked_and_changes_nothing(world):
    await ready(world)
    created = await create_deployment(world)
    [stale] = world.queued()
    await deployments.scale_deployment(world.deps, ScaleDeployment(id=created["id"], replicas=5))
    events = len(world.uow.events)
    delivery = await world.run(stale)
    assert delivery.acked
    assert world.cluster.objects == {} and len(world.uow.events) == events
    await world.run_jobs()
    state = state_of(world, created["id"])
    assert (state.status, state.replicas) == ("running", 5)


async def test_the_terminal_end_of_a_stale_rollout_changes_nothing(world):
    created = await running_deployment(world)
    world.cluster.unreachable = True
    old_job = world.uow.jobs[0]
    delivery = await world.run(old_job, attempt=world.deps.settings.job_max_deliver)
    assert delivery.acked
    assert outcome(world, created["id"]) == ("running", None)


# --- service applies -------------------------------------------------------------------


async def test_a_cluster_ip_service_becomes_active_with_endpoints(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    [delivery] = await world.run_jobs()
    assert delivery.acked
    service = state_of(world, created["id"])
    assert (service.status, service.deadline) == ("active", None)
    assert len(service.endpoints) == 3 and service.cluster_ip
    assert world.kube_service_progress.lines[created["id"]] == ["applied Service default/web"]


async def test_a_load_balancer_without_a_tunnel_stays_pending_saying_so(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"], type="LoadBalancer")
    [delivery] = await world.run_jobs()
    assert delivery.acked
    service = state_of(world, created["id"])
    assert (service.status, service.deadline, service.reason) == ("pending", None, TUNNEL_HINT)


async def test_a_service_without_endpoints_by_its_deadline_fails(world):
    deployment = await running_deployment(world)
    world.cluster.rollouts["web"] = RolloutObservation(phase="progressing", desired=3)
    created = await create_service(world, deployment["id"])
    past = utcnow() - timedelta(seconds=1)
    world.kube_services.rows[created["id"]] = state_of(world, created["id"]).model_copy(
        update={"deadline": past}
    )
    [delivery] = await world.run_jobs()
    assert delivery.acked
    status, reason = outcome(world, created["id"])
    assert status == "failed"
    assert reason.startswith("not active by its deadline (")
    assert reason.endswith("): no ready endpoints")


async def test_a_service_whose_deployment_is_gone_fails(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    del world.deployments.rows[deployment["id"]]
    [delivery] = await world.run_jobs()
    assert delivery.acked
    assert outcome(world, created["id"]) == (
        "failed",
        f"its deployment '{deployment['id']}' no longer exists",
    )


async def test_an_apply_on_an_unreachable_cluster_is_retried(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    world.cluster.unreachable = True
    [delivery] = await world.run_jobs()
    assert delivery.nacked
    assert outcome(world, created["id"]) == ("pending", None)
    await announce(world, cluster_event("stopped", 3))
    assert outcome(world, created["id"]) == ("failed", "cluster 'local' is stopped")


async def test_an_apply_that_keeps_failing_gives_up_with_the_last_reason(world):
    deployment = await running_deployment(world)
    created = await create_service(world, deployment["id"])
    world.cluster.unreachable = True
    [job] = world.queued()
    delivery = await world.run(job, attempt=world.deps.settings.job_max_deliver)
    assert delivery.acked
    assert outcome(world, created["id"]) == (
        "failed",
        "gave up after 3 attempts: could not reach cluster 'local': connection refused",
    )


# --- pushed images: the cluster pulls them ----------------------------------------------

PUSHED = {"repository": "127.0.0.1:5000/shop/web", "digest": "sha256:pushed"}


async def test_a_pushed_image_is_pulled_by_digest_and_never_loaded(world):
    await announce(world, cluster_event("running", 1), image_event("built", 2, **PUSHED))
    created = await create_deployment(world)
    await world.run_jobs()
    assert outcome(world, created["id"]) == ("running", None)
    assert world.manager.loads == []
    pod = world.cluster.objects[("Deployment", "default", "web")]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "127.0.0.1:5000/shop/web@sha256:pushed"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert world.deployment_progress.lines[created["id"]][0] == (
        "cluster 'local' pulls image 127.0.0.1:5000/shop/web@sha256:pushed from its registry"
    )


async def test_a_pushed_image_with_a_registry_login_is_pulled_with_its_secret(world):
    world.pull_logins.logins[IMAGE.id] = RegistryPullLogin("127.0.0.1:5000", "ci", "pw-x")
    await announce(world, cluster_event("running", 1), image_event("built", 2, **PUSHED))
    created = await create_deployment(world)
    await world.run_jobs()
    assert outcome(world, created["id"]) == ("running", None)
    secret_name = pull_secret_name(IMAGE.id)
    secret = world.cluster.objects[("Secret", "default", secret_name)]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    pod = world.cluster.objects[("Deployment", "default", "web")]["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": secret_name}]
    lines = world.deployment_progress.lines[created["id"]]
    assert f"pulling with Secret {secret_name} (user 'ci')" in lines
    assert all("pw-x" not in line for line in lines)
    assert all("pw-x" not in repr(event.payload) for event in world.uow.events)


async def test_a_pushed_image_without_a_login_names_no_pull_secret(world):
    await announce(world, cluster_event("running", 1), image_event("built", 2, **PUSHED))
    await create_deployment(world)
    await world.run_jobs()
    assert world.pull_logins.asked == [IMAGE.id]
    assert not [key for key in world.cluster.objects if key[0] == "Secret"]
    pod = world.cluster.objects[("Deployment", "default", "web")]["spec"]["template"]["spec"]
    assert "imagePullSecrets" not in pod


async def test_an_image_built_without_a_repository_is_still_loaded_by_name(world):
    await announce(world, cluster_event("running", 1), image_event("built", 2, repository=None))
    await create_deployment(world)
    await world.run_jobs()
    assert world.manager.loads == [(CLUSTER.id, IMAGE.reference)]
    pod = world.cluster.objects[("Deployment", "default", "web")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == IMAGE.reference
