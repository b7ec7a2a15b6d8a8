"""Drift, said the way a kubectl user would say it."""

from __future__ import annotations

from slipway_libs.aggregate import utcnow
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.drift import deployment_drift, service_drift
from slipway_workload_manager.domain.kube_service import KubeServiceAggregate
from slipway_workload_manager.domain.manifests import deployment_manifest
from slipway_workload_manager.domain.ports import RolloutObservation, ServiceObservation
from slipway_workload_manager.domain.rollout import interpret_deployment
from tests.unit.workload_manager.fakes import IMAGE, deployment_spec, service_spec

DEPLOYMENT = DeploymentAggregate.accept(
    deployment_spec(), IMAGE, deployment_id="d1", rollout_id="r1", deadline=utcnow()
).state
SERVICE = KubeServiceAggregate.accept(
    service_spec("d1"), DEPLOYMENT, service_id="s1", apply_id="a1", deadline=utcnow()
).state


def test_a_deleted_deployment_is_named_with_its_namespace():
    missing = RolloutObservation(phase="missing")
    assert deployment_drift(DEPLOYMENT, missing) == (
        "Deployment default/web was deleted outside Slipway"
    )


def test_changed_replicas_and_image_are_both_reported():
    live = RolloutObservation(phase="available", live_replicas=1, live_image="shop/web:9.9.9")
    assert deployment_drift(DEPLOYMENT, live) == (
        "Deployment default/web was changed outside Slipway: replicas 3 -> 1, "
        "image shop/web:1.0.0 -> shop/web:9.9.9"
    )


def test_a_live_deployment_as_applied_has_no_drift():
    live = RolloutObservation(phase="available", live_replicas=3, live_image="shop/web:1.0.0")
    assert deployment_drift(DEPLOYMENT, live) is None


def test_service_drift_names_the_changed_ports_or_the_deletion():
    assert service_drift(SERVICE, ServiceObservation(phase="missing")) == (
        "Service default/web was deleted outside Slipway"
    )
    changed = ServiceObservation(phase="active", live_port=81, live_target_port=8080)
    assert service_drift(SERVICE, changed) == (
        "Service default/web was changed outside Slipway: port 80 -> 81"
    )
    same = ServiceObservation(phase="active", live_port=80, live_target_port=8080)
    assert service_drift(SERVICE, same) is None


def test_a_placed_deployment_as_the_server_returns_it_has_no_drift():
    # The server fills in defaults around the placement (and may order it its own way):
    # the reconcile loop must not call that drift and flap between the two.
    placement = {
        "pod_anti_affinity": [{"topology_key": "kubernetes.io/hostname", "required": True}],
        "topology_spread": [{"topology_key": "topology.kubernetes.io/zone"}],
    }
    placed = DeploymentAggregate.accept(
        deployment_spec(placement=placement),
        IMAGE,
        deployment_id="d2",
        rollout_id="r2",
        deadline=utcnow(),
    ).state
    live = deployment_manifest(placed, IMAGE.reference)
    pod = live["spec"]["template"]["spec"]
    pod.update(schedulerName="default-scheduler", dnsPolicy="ClusterFirst")
    pod["topologySpreadConstraints"][0]["matchLabelKeys"] = ["pod-template-hash"]
    pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0][
        "namespaces"
    ] = ["default"]
    live["metadata"]["generation"] = 1
    live["status"] = {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
    }
    observation = interpret_deployment(live)
    assert observation.phase == "available"
    assert deployment_drift(placed, observation) is None


def test_a_pushed_image_running_by_its_registry_reference_is_no_drift():
    pushed = "127.0.0.1:5000/shop/web@sha256:pushed"
    live = RolloutObservation(phase="available", live_replicas=3, live_image=pushed)
    assert deployment_drift(DEPLOYMENT, live, pushed_image=pushed) is None
    other = RolloutObservation(phase="available", live_replicas=3, live_image="nginx:1.27")
    assert deployment_drift(DEPLOYMENT, other, pushed_image=pushed) == (
        "Deployment default/web was changed outside Slipway: image shop/web:1.0.0 -> nginx:1.27"
    )
