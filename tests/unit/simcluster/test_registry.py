"""Write rules of the simulated API server: validation, preconditions, generation, allocation."""

from __future__ import annotations

import copy
import ipaddress
import json
from typing import Any

import pytest
from slipway_simcluster.errors import ApiError
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import DEPLOYMENTS, NAMESPACES, PODS, SECRETS, SERVICES
from slipway_simcluster.store import Store


@pytest.fixture
def registry() -> Registry:
    registry = Registry(Store())
    for name in ("default", "shop"):
        registry.create(NAMESPACES, None, {"metadata": {"name": name}})
    return registry


def deployment(
    name: str = "web", replicas: int = 2, image: str = "shop/web:1.0.0"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": image, "ports": [{"containerPort": 8080}]}
                    ]
                },
            },
        },
    }


def test_create_fills_metadata_and_defaults(registry: Registry) -> None:
    created = registry.create(DEPLOYMENTS, "shop", deployment())

    metadata, spec = created["metadata"], created["spec"]
    assert metadata["namespace"] == "shop" and metadata["generation"] == 1
    assert metadata["uid"] and metadata["creationTimestamp"].endswith("Z")
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert created["status"] == {}


def test_create_in_missing_namespace_is_not_found(registry: Registry) -> None:
    with pytest.raises(ApiError) as raised:
        registry.create(DEPLOYMENTS, "nowhere", deployment())

    assert raised.value.code == 404 and raised.value.message == 'namespaces "nowhere" not found'


def test_invalid_deployment_names_every_failing_field(registry: Registry) -> None:
    body = deployment("Bad_Name")
    body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}

    with pytest.raises(ApiError) as bad_name:
        registry.create(DEPLOYMENTS, "shop", body)
    body["metadata"]["name"] = "web"
    with pytest.raises(ApiError) as mismatch:
        registry.create(DEPLOYMENTS, "shop", body)

    assert bad_name.value.code == 422 and "metadata.name" in bad_name.value.message
    assert mismatch.value.details is not None
    assert [cause["field"] for cause in mismatch.value.details["causes"]] == [
        "spec.template.metadata.labels"
    ]


def test_generation_moves_with_spec_changes_only(registry: Registry) -> None:
    created = registry.create(DEPLOYMENTS, "shop", deployment())
    relabelled = copy.deepcopy(created)
    relabelled["metadata"]["labels"] = {"team": "shop"}
    relabelled = registry.update(DEPLOYMENTS, "shop", "web", relabelled)
    scaled = copy.deepcopy(relabelled)
    scaled["spec"]["replicas"] = 4
    scaled = registry.update(DEPLOYMENTS, "shop", "web", scaled)

    assert relabelled["metadata"]["generation"] == 1
    assert scaled["metadata"]["generation"] == 2


def test_update_with_stale_resource_version_conflicts(registry: Registry) -> None:
    created = registry.create(DEPLOYMENTS, "shop", deployment())
    first = copy.deepcopy(created)
    first["spec"]["replicas"] = 3
    registry.update(DEPLOYMENTS, "shop", "web", first)

    stale = copy.deepcopy(created)
    stale["spec"]["replicas"] = 5
    with pytest.raises(ApiError) as raised:
        registry.update(DEPLOYMENTS, "shop", "web", stale)

    assert (raised.value.code, raised.value.reason) == (409, "Conflict")
    assert registry.store.get(DEPLOYMENTS, "shop", "web")["spec"]["replicas"] == 3


def test_update_keeps_status_and_status_update_keeps_spec(registry: Registry) -> None:
    created = registry.create(DEPLOYMENTS, "shop", deployment())
    forged = copy.deepcopy(created)
    forged["status"] = {"availableReplicas": 99}
    after_put = registry.update(DEPLOYMENTS, "shop", "web", forged)
    status_put = copy.deepcopy(after_put)
    status_put["spec"]["replicas"] = 50
    status_put["status"] = {"replicas": 2}
    after_status = registry.update(DEPLOYMENTS, "shop", "web", status_put, subresource="status")

    assert after_put["status"] == {}
    assert after_status["spec"]["replicas"] == 2 and after_status["status"] == {"replicas": 2}


def test_patches_and_server_side_apply(registry: Registry) -> None:
    registry.create(DEPLOYMENTS, "shop", deployment())
    merged, _ = registry.patch(
        DEPLOYMENTS,
        "shop",
        "web",
        json.dumps({"spec": {"replicas": 4}}).encode(),
        "application/merge-patch+json",
    )
    applied, created = registry.patch(
        DEPLOYMENTS,
        "shop",
        "api",
        json.dumps(deployment("api")).encode(),
        "application/apply-patch+yaml",
        field_manager="slipway",
    )

    assert merged["spec"]["replicas"] == 4 and merged["metadata"]["generation"] == 2
    assert created and applied["metadata"]["name"] == "api"
    with pytest.raises(ApiError) as no_manager:
        registry.patch(DEPLOYMENTS, "shop", "api", b"{}", "application/apply-patch+yaml")
    assert no_manager.value.code == 422


def test_scale_subresource(registry: Registry) -> None:
    registry.create(DEPLOYMENTS, "shop", deployment())

    scale = registry.update_scale(DEPLOYMENTS, "shop", "web", {"spec": {"replicas": 5}})

    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 5
    assert scale["status"]["selector"] == "app=web"
    assert registry.store.get(DEPLOYMENTS, "shop", "web")["spec"]["replicas"] == 5


def _service(name: str, kind: str = "ClusterIP", **port: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"type": kind, "selector": {"app": "web"}, "ports": [{"port": 80, **port}]},
    }


def test_services_get_cluster_ips_and_node_ports(registry: Registry) -> None:
    cluster_ip = registry.create(SERVICES, "shop", _service("web"))
    node_port = registry.create(SERVICES, "shop", _service("web-np", "NodePort"))
    balancer = registry.create(SERVICES, "shop", _service("web-lb", "LoadBalancer"))

    ips = {svc["spec"]["clusterIP"] for svc in (cluster_ip, node_port, balancer)}
    assert len(ips) == 3
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12") for ip in ips)
    assert cluster_ip["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert 30000 <= node_port["spec"]["ports"][0]["nodePort"] <= 32767
    assert balancer["status"] == {"loadBalancer": {}}


def test_taken_node_port_and_changed_cluster_ip_are_invalid(registry: Registry) -> None:
    first = registry.create(SERVICES, "shop", _service("a", "NodePort", nodePort=30080))
    with pytest.raises(ApiError) as taken:
        registry.create(SERVICES, "shop", _service("b", "NodePort", nodePort=30080))
    moved = copy.deepcopy(first)
    moved["spec"]["clusterIP"] = "10.96.7.7"
    moved["spec"]["clusterIPs"] = ["10.96.7.7"]
    with pytest.raises(ApiError) as immutable:
        registry.update(SERVICES, "shop", "a", moved)

    assert taken.value.code == 422 and "already allocated" in taken.value.message
    assert immutable.value.code == 422


def test_secret_string_data_becomes_base64_data(registry: Registry) -> None:
    secret = registry.create(
        SECRETS, "shop", {"metadata": {"name": "db"}, "stringData": {"password": "s3cret"}}
    )

    assert secret["data"] == {"password": "czNjcmV0"} and "stringData" not in secret
    assert secret["type"] == "Opaque"


def test_namespace_deletion_removes_its_contents_and_protects_system_namespaces(
    registry: Registry,
) -> None:
    registry.create(DEPLOYMENTS, "shop", deployment())
    registry.create(SECRETS, "shop", {"metadata": {"name": "db"}})

    terminating = registry.delete(NAMESPACES, "", "shop")
    with pytest.raises(ApiError) as protected:
        registry.delete(NAMESPACES, "", "default")

    assert terminating["status"]["phase"] == "Terminating"
    assert registry.store.peek(NAMESPACES, "", "shop") is None
    assert (
        registry.store.objects(DEPLOYMENTS, "shop") == []
        and registry.store.objects(SECRETS, "shop") == []
    )
    assert protected.value.code == 403


def test_delete_answers_like_a_real_api_server(registry: Registry) -> None:
    registry.create(DEPLOYMENTS, "shop", deployment())
    registry.create(
        PODS,
        "shop",
        {"metadata": {"name": "solo"}, "spec": {"containers": [{"name": "a", "image": "x"}]}},
    )

    status = registry.delete(DEPLOYMENTS, "shop", "web")
    pod = registry.delete(PODS, "shop", "solo")

    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "web" and status["details"]["group"] == "apps"
    assert pod["kind"] == "Pod" and pod["metadata"]["deletionTimestamp"]
