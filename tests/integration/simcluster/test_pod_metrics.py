"""`metrics.k8s.io/v1beta1` on the simulated cluster, read with the official client the way
`kubectl top pods` and Slipway read metrics-server."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s
from kubernetes.client.rest import ApiException

from tests.integration.simcluster.conftest import RunningCluster, deployment_body
from tests.waiting import poll

GROUP, VERSION = "metrics.k8s.io", "v1beta1"


def millicores(quantity: str) -> float:
    assert quantity.endswith("n"), quantity
    return int(quantity[:-1]) / 1e6


def mebibytes(quantity: str) -> float:
    assert quantity.endswith("Ki"), quantity
    return int(quantity[:-2]) / 1024


def test_running_pods_report_usage_within_their_requests(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()
    body = deployment_body("web", replicas=2)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["resources"] = {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi"},
    }
    cluster.apps.create_namespaced_deployment(namespace, body)
    metrics = k8s.CustomObjectsApi(cluster.api)

    def two_pods() -> list[dict] | None:
        found = metrics.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "pods", label_selector="app=web"
        )["items"]
        return found if len(found) == 2 else None

    pods = poll(two_pods, what="metrics of two running pods")
    for pod in pods:
        assert pod["kind"] == "PodMetrics" and pod["window"] == "15s"
        usage = pod["containers"][0]["usage"]
        # 30-70 % of the 100m requested and 40-80 % of the 64Mi, each times 0.95-1.05 (drift)
        assert 100 * 0.3 * 0.95 <= millicores(usage["cpu"]) <= 100 * 0.7 * 1.05
        assert 64 * 0.4 * 0.95 <= mebibytes(usage["memory"]) <= 64 * 0.8 * 1.05
    one = metrics.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "pods", pods[0]["metadata"]["name"]
    )
    assert one["metadata"]["name"] == pods[0]["metadata"]["name"]
    other = metrics.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "pods", label_selector="app=other"
    )
    assert other["items"] == []
    with pytest.raises(ApiException) as missing:
        metrics.get_namespaced_custom_object(GROUP, VERSION, namespace, "pods", "no-such-pod")
    assert missing.value.status == 404
