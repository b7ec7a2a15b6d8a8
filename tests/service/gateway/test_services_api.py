"""`/api/services` through the real gateway, with a stub workload-manager on NATS."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from slipway_contracts.entities import Service
from slipway_libs.errors import InvalidInput
from tests.service.gateway.conftest import RETRY_AFTER_S, StubService, assert_problem

SERVICES = "/api/services"
WEB = {"name": "web", "deployment_id": "d1", "port": 80, "target_port": 8080}


def pending(payload: dict[str, Any]) -> dict[str, Any]:
    if payload["target_port"] != 8080:
        raise InvalidInput.field("target_port", "must equal the deployment's container_port 8080")
    return {**payload, "cluster_id": "c1", "status": "pending"}


@pytest_asyncio.fixture(loop_scope="session")
async def workloads(serve) -> StubService:
    return await serve(
        StubService("service", pending, transitions={"update": ({"active", "failed"}, "pending")})
    )


async def test_a_service_is_accepted_with_202_location_and_etag(gateway, workloads):
    response = await gateway.post(SERVICES, json=WEB)

    assert response.status_code == 202
    service = Service.model_validate(response.json())
    assert (service.status, service.cluster_id, service.type) == ("pending", "c1", "ClusterIP")
    assert response.headers["location"] == f"{SERVICES}/{service.id}"
    assert response.headers["etag"] == '"1"'
    assert workloads.commands("create")[0].payload["protocol"] == "TCP"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"port": 70000}, "port"),
        ({"port": 0}, "port"),
        ({"target_port": 65536}, "target_port"),
        ({"protocol": "SCTP"}, "protocol"),
        ({"type": "Ingress"}, "type"),
        ({"name": "Web"}, "name"),
        ({"cluster_id": "c1"}, "cluster_id"),  # the cluster is the deployment's
    ],
)
async def test_a_bad_service_is_422_naming_the_field(gateway, workloads, change, field):
    response = await gateway.post(SERVICES, json={**WEB, **change})

    assert_problem(response, 422, {field})
    assert workloads.received == []


async def test_a_target_port_that_misses_the_container_port_is_the_services_422(gateway, workloads):
    response = await gateway.post(SERVICES, json={**WEB, "target_port": 9000})

    problem = assert_problem(response, 422, {"target_port"})
    assert "8080" in problem["detail"]


async def test_get_put_list_and_delete(gateway, workloads):
    service = workloads.add({**pending(WEB), "status": "active"})
    path = f"{SERVICES}/{service['id']}"

    got = await gateway.get(path)
    assert got.status_code == 200 and got.headers["etag"] == '"1"'

    changed = {**WEB, "type": "NodePort"}
    assert_problem(await gateway.put(path, json=changed, headers={"If-Match": '"5"'}), 412)
    response = await gateway.put(path, json=changed, headers={"If-Match": '"1"'})
    assert response.status_code == 202
    assert response.headers["location"] == path
    assert response.headers["etag"] == '"2"'
    assert response.json()["type"] == "NodePort"

    page = (await gateway.get(SERVICES, params={"status": "pending"})).json()
    assert [s["id"] for s in page["items"]] == [service["id"]]

    assert (await gateway.delete(path, headers={"If-Match": '"2"'})).status_code == 204
    assert_problem(await gateway.get(path), 404)


async def test_no_workload_manager_is_503_with_retry_after(gateway):
    response = await gateway.post(SERVICES, json=WEB)

    assert_problem(response, 503)
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
