"""Services, Endpoints, the simulated tunnel, and Secrets on the simulated cluster."""

from __future__ import annotations

import asyncio
import base64
import ipaddress

from kubernetes.client.rest import ApiException

from tests.integration.simcluster.conftest import RunningCluster, deployment_body
from tests.waiting import poll


def service_body(
    name: str, kind: str = "ClusterIP", target_port: int | str = "http"
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": kind,
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": target_port}],
        },
    }


def test_service_gets_cluster_ip_and_endpoints_of_ready_pods(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    cluster.apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=3))

    service = cluster.core.create_namespaced_service(namespace, service_body("web"))

    assert ipaddress.ip_address(service.spec.cluster_ip) in ipaddress.ip_network("10.96.0.0/12")
    assert service.spec.cluster_ips == [service.spec.cluster_ip]

    def ready_addresses() -> list[str]:
        endpoints = cluster.core.read_namespaced_endpoints("web", namespace)
        subsets = endpoints.subsets or []
        return sorted(a.ip for s in subsets for a in s.addresses or [])

    addresses = poll(lambda: len(ready_addresses()) == 3 and ready_addresses(), what="3 endpoints")
    pods = cluster.core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert addresses == sorted(p.status.pod_ip for p in pods)
    endpoints = cluster.core.read_namespaced_endpoints("web", namespace)
    assert endpoints.subsets[0].ports[0].port == 8080, (
        "the named target port resolves to containerPort"
    )


def test_node_port_is_allocated_from_the_node_port_range(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()

    service = cluster.core.create_namespaced_service(
        namespace, service_body("web", "NodePort", 8080)
    )

    assert 30000 <= service.spec.ports[0].node_port <= 32767
    assert service.spec.external_traffic_policy == "Cluster"


def test_load_balancer_stays_pending_until_the_tunnel_is_on(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    created = cluster.core.create_namespaced_service(
        namespace, service_body("web", "LoadBalancer", 8080)
    )

    def ingress() -> list[str]:
        status = cluster.core.read_namespaced_service("web", namespace).status
        return [i.ip for i in (status.load_balancer.ingress or [])] if status.load_balancer else []

    assert created.spec.ports[0].node_port
    assert ingress() == []
    try:
        assert asyncio.run(cluster.simulated.set_tunnel(True)) is True
        assert poll(lambda: ingress(), what="a load-balancer address") == ["127.0.0.1"]
    finally:
        asyncio.run(cluster.simulated.set_tunnel(False))
    poll(lambda: ingress() == [], what="the address to go with the tunnel")


def test_secrets_round_trip(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()

    created = cluster.core.create_namespaced_secret(
        namespace, {"metadata": {"name": "db"}, "stringData": {"password": "s3cret"}}
    )
    cluster.core.patch_namespaced_secret(
        "db", namespace, {"data": {"user": base64.b64encode(b"app").decode()}}
    )
    read = cluster.core.read_namespaced_secret("db", namespace)
    cluster.core.delete_namespaced_secret("db", namespace)

    assert created.type == "Opaque"
    assert base64.b64decode(read.data["password"]) == b"s3cret"
    assert base64.b64decode(read.data["user"]) == b"app"
    try:
        cluster.core.read_namespaced_secret("db", namespace)
        raise AssertionError("the secret should be gone")
    except ApiException as missing:
        assert missing.status == 404


def test_deleting_a_namespace_removes_what_it_held(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    cluster.apps.create_namespaced_deployment(namespace, deployment_body("web", replicas=1))
    cluster.core.create_namespaced_service(namespace, service_body("web"))

    cluster.core.delete_namespace(namespace)

    assert namespace not in {ns.metadata.name for ns in cluster.core.list_namespace().items}
    assert not cluster.apps.list_namespaced_deployment(namespace).items
    assert not cluster.core.list_namespaced_pod(namespace).items
