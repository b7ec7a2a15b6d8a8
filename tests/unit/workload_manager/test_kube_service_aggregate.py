"""The Service lifecycle: pending until the cluster has endpoints for it, then active."""

from __future__ import annotations

from datetime import timedelta

from slipway_libs.aggregate import utcnow
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.kube_service import TUNNEL_HINT, KubeServiceAggregate
from slipway_workload_manager.domain.ports import ServiceObservation
from tests.unit.workload_manager.fakes import IMAGE, deployment_spec, service_spec

BACKEND = DeploymentAggregate.accept(
    deployment_spec(), IMAGE, deployment_id="d1", rollout_id="r1", deadline=utcnow()
).state
READY = ServiceObservation(
    phase="active", cluster_ip="10.96.0.10", endpoints=["10.244.0.1:8080", "10.244.0.2:8080"]
)
EMPTY = ServiceObservation(phase="pending", cluster_ip="10.96.0.10", reason="no ready endpoints")


def new(**overrides) -> KubeServiceAggregate:
    return KubeServiceAggregate.accept(
        service_spec("d1", **overrides),
        BACKEND,
        service_id="s1",
        apply_id="a1",
        deadline=utcnow() + timedelta(minutes=3),
    )


def test_a_new_service_is_pending_on_its_deployments_cluster():
    service = new()
    assert (service.status, service.state.cluster_id) == ("pending", BACKEND.cluster_id)


def test_ready_endpoints_make_it_active_with_its_addresses():
    service = new()
    assert service.observed(READY, deadline=utcnow())
    assert service.status == "active"
    assert service.state.endpoints == READY.endpoints
    assert service.state.deadline is None
    assert not service.observed(READY, deadline=utcnow())  # nothing new: no event


def test_losing_every_endpoint_makes_it_pending_again_with_a_deadline():
    service = new()
    service.observed(READY, deadline=utcnow())
    later = utcnow() + timedelta(minutes=3)
    assert service.observed(EMPTY, deadline=later)
    assert (service.status, service.state.reason, service.state.deadline) == (
        "pending",
        "no ready endpoints",
        later,
    )


def test_a_load_balancer_waiting_for_a_tunnel_stays_pending_without_a_deadline():
    service = new(type="LoadBalancer")
    waiting = ServiceObservation(phase="pending", endpoints=["10.244.0.1:8080"])
    assert service.observed(waiting, deadline=utcnow())
    assert (service.status, service.state.reason, service.state.deadline) == (
        "pending",
        TUNNEL_HINT,
        None,
    )
    assert not service.expire(utcnow() + timedelta(days=1))
    with_ingress = ServiceObservation(
        phase="active", ingress=["127.0.0.1"], endpoints=["10.244.0.1:8080"]
    )
    service.observed(with_ingress, deadline=utcnow())
    assert (service.status, service.state.ingress) == ("active", ["127.0.0.1"])


def test_a_service_still_pending_past_its_deadline_fails_with_why():
    service = new()
    service.observed(EMPTY, deadline=utcnow())
    assert service.expire(utcnow() + timedelta(minutes=4))
    assert service.status == "failed"
    assert "no ready endpoints" in service.state.reason


def test_a_failed_service_becomes_active_when_endpoints_appear():
    service = new()
    service.apply_failed("a1", "cluster 'local' refused the Service: bad port")
    assert service.status == "failed"
    assert not service.observed(EMPTY, deadline=utcnow())
    assert service.observed(READY, deadline=utcnow())
    assert service.status == "active"


def test_a_cluster_outage_fails_it_and_its_return_applies_it_again():
    service = new()
    service.observed(READY, deadline=utcnow())
    assert service.cluster_down("cluster 'local' is stopped")
    assert (service.status, service.state.endpoints) == ("failed", [])
    assert service.cluster_back(apply_id="a2", deadline=utcnow())
    assert (service.status, service.state.apply_id) == ("pending", "a2")


def test_a_put_on_an_active_service_applies_it_again_unless_nothing_changed():
    service = new()
    service.observed(READY, deadline=utcnow())
    assert not service.respecify(service_spec("d1"), BACKEND, apply_id="a2", deadline=utcnow())
    assert service.respecify(
        service_spec("d1", port=8081), BACKEND, apply_id="a2", deadline=utcnow()
    )
    assert (service.status, service.state.port) == ("pending", 8081)


def test_a_service_deleted_behind_slipways_back_is_drift_and_failed():
    service = new()
    service.observed(READY, deadline=utcnow())
    assert service.drift_seen("Service default/web was deleted outside Slipway", missing=True)
    assert service.status == "failed"
    assert service.state.drift == "Service default/web was deleted outside Slipway"
