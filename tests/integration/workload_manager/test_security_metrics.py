"""The security gauges the alert rules read (`slipway_workload_runs_as_root`,
`slipway_image_findings`), sampled from real MongoDB and read as Prometheus scrapes them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prometheus_client import REGISTRY

from slipway_contracts.commands import CreateDeployment
from slipway_observability import metrics
from slipway_workload_manager.adapters.projections import COLLECTIONS
from slipway_workload_manager.service_layer import deployments
from tests.integration.workload_manager.workloads import FakeWorld, seed
from tests.unit.workload_manager.fakes import IMAGE, SPEC, cluster_event, image_event

pytest_plugins = ["tests.integration.workload_manager.fixtures"]

ROOT_SCAN = {
    "status": "succeeded",
    "counts": {"HIGH": 1},
    "findings": [{"kind": "policy", "severity": "HIGH", "rule": "non-root-user", "title": "root"}],
}
NON_ROOT = replace(IMAGE, id="img-2", name="shop/api")


def sample(metric: str, **labels: str) -> float | None:
    """The value of the series `metric{labels}` as /metrics shows it (None: no such series)."""
    return REGISTRY.get_sample_value(metric, labels)


async def deploy(world: FakeWorld, **overrides: Any) -> dict[str, Any]:
    command = CreateDeployment.model_validate({**SPEC, **overrides})
    reply = await deployments.create_deployment(world.parts.deps, command)
    assert reply["ok"], reply
    return dict(reply["data"])


async def test_a_deployment_of_an_image_scanned_as_root_shows_as_running_as_root(world: FakeWorld):
    parts = world.parts
    await seed(
        parts,
        cluster_event("running", 1),
        image_event("built", 2, user="", scan=ROOT_SCAN),
        image_event("built", 2, NON_ROOT, user="10001", scan={"status": "succeeded"}),
    )
    root = await deploy(world, name="legacy")
    clean = await deploy(world, name="api", image=NON_ROOT.reference)

    await metrics.sample_root_workloads(
        parts.deployments.collection, COLLECTIONS["container_image"]
    )

    gauge = "slipway_workload_runs_as_root"
    assert sample(gauge, id=root["id"], name="legacy", namespace="default") == 1
    assert sample(gauge, id=clean["id"], name="api", namespace="default") == 0


async def test_a_deleted_deployment_leaves_the_gauge(world: FakeWorld):
    parts = world.parts
    await seed(parts, cluster_event("running", 1), image_event("built", 2, scan=ROOT_SCAN))
    root = await deploy(world, name="legacy")
    await metrics.sample_root_workloads(
        parts.deployments.collection, COLLECTIONS["container_image"]
    )
    await parts.deployments.collection.delete_many({})

    await metrics.sample_root_workloads(
        parts.deployments.collection, COLLECTIONS["container_image"]
    )

    gauge = "slipway_workload_runs_as_root"
    assert sample(gauge, id=root["id"], name="legacy", namespace="default") is None


async def test_a_scanned_image_shows_its_findings_by_severity(world: FakeWorld):
    images = world.parts.deployments.collection.database["container_images"]
    scan = {"status": "succeeded", "counts": {"CRITICAL": 2, "HIGH": 1, "LOW": 7}}
    await images.insert_one({"_id": "i1", "name": "todo/backend", "tag": "1.0.0", "scan": scan})
    await images.insert_one({"_id": "i2", "name": "todo/frontend", "tag": "1.0.0"})  # not scanned

    await metrics.sample_image_findings(images)

    gauge, name = "slipway_image_findings", "todo/backend:1.0.0"
    assert sample(gauge, id="i1", name=name, severity="critical") == 2
    assert sample(gauge, id="i1", name=name, severity="high") == 1
    assert sample(gauge, id="i1", name=name, severity="low") == 7
    await images.update_one({"_id": "i1"}, {"$set": {"scan.counts": {"LOW": 1}}})
    await metrics.sample_image_findings(images)
    assert sample(gauge, id="i1", name=name, severity="critical") is None
    await images.drop()
