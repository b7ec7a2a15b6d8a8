"""The gateway's wiring of the cluster and workload routes: readiness, a NATS outage,
and the documented API."""

from __future__ import annotations

import pytest
import slipway_devstack as devstack

from slipway_gateway.app import create_app
from slipway_gateway.settings import GatewaySettings
from tests.service.gateway.conftest import RETRY_AFTER_S, assert_problem, running_gateway


async def answer_health(serve, services: list[str]) -> None:
    for service in services:
        await serve.subject(f"slipway.health.{service}", {"status": "ok"})


async def test_readiness_waits_for_the_cluster_and_workload_managers_by_default(
    gateway_settings, serve, monkeypatch
):
    monkeypatch.delenv("SLIPWAY_READY_SERVICES", raising=False)
    settings = gateway_settings()
    await answer_health(serve, ["image-builder", "chart-validator", "cluster-manager"])

    async with running_gateway(settings) as gateway:
        response = await gateway.get("/readyz")
        problem = assert_problem(response, 503)
        assert "workload-manager" in problem["detail"]
        assert response.headers["retry-after"] == str(RETRY_AFTER_S)

        await answer_health(serve, ["workload-manager"])
        ready = await gateway.get("/readyz")
        assert ready.status_code == 200
        assert set(ready.json()["checks"]) == {
            "nats",
            "mongodb",
            "image-builder",
            "chart-validator",
            "cluster-manager",
            "workload-manager",
        }


async def test_with_nats_down_every_route_is_503_with_retry_after(gateway_settings):
    dead = f"nats://127.0.0.1:{devstack.free_port()}"
    settings = gateway_settings(nats_url=dead)

    async with running_gateway(settings, wait_for_nats=False) as gateway:
        for response in (
            await gateway.post("/api/minikube-clusters/c1/start"),
            await gateway.get("/api/minikube-clusters/c1/kubeconfig"),
            await gateway.get("/api/deployments"),
            await gateway.delete("/api/services/s1"),
        ):
            problem = assert_problem(response, 503)
            assert "NATS" in problem["detail"]
            assert response.headers["retry-after"] == str(RETRY_AFTER_S)


@pytest.mark.parametrize(
    ("path", "methods"),
    [
        ("/api/minikube-clusters", {"get", "post"}),
        ("/api/minikube-clusters/{cluster_id}", {"get", "delete"}),
        ("/api/minikube-clusters/{cluster_id}/start", {"post"}),
        ("/api/minikube-clusters/{cluster_id}/stop", {"post"}),
        ("/api/minikube-clusters/{cluster_id}/restart", {"post"}),
        ("/api/minikube-clusters/{cluster_id}/kubeconfig", {"get"}),
        ("/api/deployments", {"get", "post"}),
        ("/api/deployments/{deployment_id}", {"get", "put", "delete"}),
        ("/api/deployments/{deployment_id}/scale", {"post"}),
        ("/api/deployments/{deployment_id}/repair", {"post"}),
        ("/api/services", {"get", "post"}),
        ("/api/services/{service_id}", {"get", "put", "delete"}),
    ],
)
def test_the_openapi_document_lists_the_route(path, methods):
    document = create_app(GatewaySettings()).openapi()

    assert set(document["paths"][path]) == methods
    # The problems each operation documents: test_limits_and_contract.py.


def test_the_openapi_document_says_how_each_route_answers():
    paths = create_app(GatewaySettings()).openapi()["paths"]

    assert {"201", "202"} <= set(paths["/api/minikube-clusters"]["post"]["responses"])
    assert (
        "application/yaml"
        in (
            paths["/api/minikube-clusters/{cluster_id}/kubeconfig"]["get"]["responses"]["200"][
                "content"
            ]
        )
    )
    scale = paths["/api/deployments/{deployment_id}/scale"]["post"]
    assert "202" in scale["responses"]
    assert "204" in paths["/api/services/{service_id}"]["delete"]["responses"]
