"""`/api/deployments` through the real gateway, with a stub workload-manager on NATS."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from slipway_contracts.entities import Deployment
from slipway_libs.errors import InvalidInput
from tests.service.gateway.conftest import RETRY_AFTER_S, StubService, assert_problem

DEPLOYMENTS = "/api/deployments"
WEB = {"name": "web", "cluster_id": "c1", "image": "todo/web:1.0.0", "container_port": 8080}


def pending(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "status": "pending"}


@pytest_asyncio.fixture(loop_scope="session")
async def workloads(serve) -> StubService:
    return await serve(
        StubService(
            "deployment",
            pending,
            transitions={
                "update": ({"running", "failed"}, "updating"),
                "scale": ({"running", "failed"}, "updating"),
                "repair": ({"running", "failed"}, "updating"),
            },
        )
    )


def running(workloads: StubService) -> dict[str, Any]:
    body = Deployment.model_validate(
        {"id": "x", "created_at": "2026-01-01T00:00:00Z", "last_updated": "2026-01-01T00:00:00Z"}
        | {"revision": 1, **WEB, "replicas": 3, "status": "running"}
    ).snapshot()
    return workloads.add({k: v for k, v in body.items() if k not in ("id", "revision")})


async def test_a_deployment_is_accepted_with_202_location_and_etag(gateway, workloads):
    response = await gateway.post(
        DEPLOYMENTS, json={**WEB, "replicas": 3}, headers={"Idempotency-Key": "d-1"}
    )

    assert response.status_code == 202
    deployment = Deployment.model_validate(response.json())
    assert deployment.status == "pending" and deployment.replicas == 3
    assert response.headers["location"] == f"{DEPLOYMENTS}/{deployment.id}"
    assert response.headers["etag"] == '"1"'
    [sent] = workloads.commands("create")
    assert sent.command_id == "idem:d-1"
    # The contract's defaults are filled in before the command leaves the gateway.
    assert sent.payload["namespace"] == "default"
    assert sent.payload["resources"]["limits"] == {"cpu": "500m", "memory": "128Mi"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"replicas": 0}, "replicas"),
        ({"replicas": -1}, "replicas"),
        ({"replicas": "three"}, "replicas"),
        ({"container_port": 70000}, "container_port"),
        ({"name": "Web_App"}, "name"),
        ({"namespace": "-bad"}, "namespace"),
        ({"resources": {"limits": {"cpu": "lots", "memory": "1Gi"}}}, "resources.limits.cpu"),
        ({"image": None}, "body"),  # neither image nor image_id
    ],
)
async def test_a_bad_deployment_is_422_naming_the_field(gateway, workloads, change, field):
    response = await gateway.post(DEPLOYMENTS, json={**WEB, **change})

    problem = assert_problem(response, 422, {field})
    assert field in problem["detail"]
    assert workloads.received == []


async def test_the_services_rule_errors_pass_through(gateway, serve):
    def not_built(payload: dict[str, Any]) -> Any:
        raise InvalidInput.field("image", "'nosuch/image:1.0' is not a built ContainerImage")

    stub = StubService("deployment", pending)
    stub.answers["slipway.deployment.cmd.create"] = not_built
    await serve(stub)

    response = await gateway.post(DEPLOYMENTS, json={**WEB, "image": "nosuch/image:1.0"})

    problem = assert_problem(response, 422, {"image"})
    assert "not a built ContainerImage" in problem["errors"][0]["message"]


async def test_scale_is_202_and_sends_only_the_replicas(gateway, workloads):
    deployment = running(workloads)
    path = f"{DEPLOYMENTS}/{deployment['id']}"

    response = await gateway.post(
        f"{path}/scale", json={"replicas": 5}, headers={"If-Match": '"1"'}
    )

    assert response.status_code == 202
    assert response.json()["replicas"] == 5
    assert response.json()["status"] == "updating"
    assert response.headers["location"] == path
    assert response.headers["etag"] == '"2"'
    [sent] = workloads.commands("scale")
    assert sent.payload == {"id": deployment["id"], "replicas": 5, "expected_revision": 1}


@pytest.mark.parametrize("body", [{"replicas": 0}, {"replicas": -1}, {}, {"replicas": 1001}])
async def test_a_bad_scale_is_422_naming_replicas(gateway, workloads, body):
    deployment = running(workloads)

    response = await gateway.post(f"{DEPLOYMENTS}/{deployment['id']}/scale", json=body)

    assert_problem(response, 422, {"replicas"})
    assert workloads.commands("scale") == []


async def test_scale_refuses_fields_other_than_replicas(gateway, workloads):
    deployment = running(workloads)

    response = await gateway.post(
        f"{DEPLOYMENTS}/{deployment['id']}/scale", json={"replicas": 2, "id": "other"}
    )

    assert_problem(response, 422, {"id"})


async def test_a_stale_if_match_on_scale_is_412(gateway, workloads):
    deployment = running(workloads)

    response = await gateway.post(
        f"{DEPLOYMENTS}/{deployment['id']}/scale", json={"replicas": 2}, headers={"If-Match": '"9"'}
    )

    assert assert_problem(response, 412)["current_revision"] == 1
    assert workloads.entities[deployment["id"]]["replicas"] == 3


async def test_repair_is_202_and_409_naming_the_status_when_not_allowed(gateway, workloads):
    deployment = running(workloads)
    path = f"{DEPLOYMENTS}/{deployment['id']}/repair"

    response = await gateway.post(path, headers={"Idempotency-Key": "fix-1"})
    assert response.status_code == 202
    assert response.json()["status"] == "updating"
    assert workloads.commands("repair")[0].command_id == "idem:fix-1"

    problem = assert_problem(await gateway.post(path), 409)
    assert problem["current_status"] == "updating"


async def test_put_replaces_the_spec_with_202_and_honours_if_match(gateway, workloads):
    deployment = running(workloads)
    path = f"{DEPLOYMENTS}/{deployment['id']}"
    new_spec = {**WEB, "image": "todo/web:1.1.0", "replicas": 2}

    assert_problem(await gateway.put(path, json=new_spec, headers={"If-Match": '"2"'}), 412)
    response = await gateway.put(path, json=new_spec, headers={"If-Match": '"1"'})

    assert response.status_code == 202
    assert response.headers["location"] == path
    assert response.headers["etag"] == '"2"'
    assert response.json()["image"] == "todo/web:1.1.0"
    sent = workloads.commands("update")[-1]
    assert sent.payload["id"] == deployment["id"]
    assert sent.payload["expected_revision"] == 1
    assert_problem(await gateway.put(path, json={**new_spec, "replicas": 0}), 422, {"replicas"})


async def test_get_list_and_delete(gateway, workloads):
    first = (await gateway.post(DEPLOYMENTS, json=WEB)).json()
    deployment = running(workloads)
    path = f"{DEPLOYMENTS}/{deployment['id']}"

    got = await gateway.get(path)
    assert got.status_code == 200 and got.headers["etag"] == '"1"'
    page = (await gateway.get(DEPLOYMENTS, params={"status": "pending"})).json()
    assert [d["id"] for d in page["items"]] == [first["id"]]

    response = await gateway.delete(path, headers={"Idempotency-Key": "del-1"})
    assert response.status_code == 204
    assert workloads.commands("delete")[0].payload == {
        "id": deployment["id"],
        "expected_revision": None,
    }
    assert_problem(await gateway.get(path), 404)
    assert_problem(await gateway.delete(path), 404)


async def test_no_workload_manager_is_503_with_retry_after(gateway):
    for response in (
        await gateway.post(DEPLOYMENTS, json=WEB),
        await gateway.get(DEPLOYMENTS),
        await gateway.post(f"{DEPLOYMENTS}/d1/scale", json={"replicas": 2}),
    ):
        assert_problem(response, 503)
        assert response.headers["retry-after"] == str(RETRY_AFTER_S)
