"""The data model's rules for workloads: 422 naming the field, 409 naming the status."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slipway_libs.aggregate import utcnow
from slipway_libs.errors import Conflict, InvalidInput
from slipway_workload_manager.domain import rules
from slipway_workload_manager.domain.deployment import DeploymentAggregate
from slipway_workload_manager.domain.projections import ProjectedImage
from tests.unit.workload_manager.fakes import CHART, CLUSTER, IMAGE, deployment_spec

BUILDING = replace(IMAGE, id="img-2", status="building")
FAILED = replace(IMAGE, id="img-3", status="failed", reason="image vanished from the engine")


def only_field(error: InvalidInput) -> str:
    assert isinstance(error.details, list) and len(error.details) == 1
    return str(error.details[0]["field"])


def test_a_reference_that_no_image_has_is_not_a_built_image():
    with pytest.raises(InvalidInput) as caught:
        rules.deployable_image(None, "nosuch/image:1.0", None, [])
    assert only_field(caught.value) == "image"
    assert "'nosuch/image:1.0' is not a built ContainerImage" in caught.value.message


def test_a_reference_picks_the_built_image_among_those_with_that_name():
    found = rules.deployable_image(None, IMAGE.reference, None, [BUILDING, IMAGE])
    assert found == IMAGE


@pytest.mark.parametrize("image", [BUILDING, FAILED])
def test_an_image_that_is_not_built_is_a_conflict_naming_its_status(image: ProjectedImage):
    with pytest.raises(Conflict) as by_reference:
        rules.deployable_image(None, image.reference, None, [image])
    with pytest.raises(Conflict) as by_id:
        rules.deployable_image(image.id, None, image, [])
    for error in (by_reference.value, by_id.value):
        assert f"current status: {image.status}" in error.message
        assert error.details["current_status"] == image.status
    assert "vanished" in by_id.value.message or image is BUILDING


def test_an_unknown_image_id_is_invalid_and_a_mismatched_reference_too():
    with pytest.raises(InvalidInput) as unknown:
        rules.deployable_image("nope", None, None, [])
    assert only_field(unknown.value) == "image_id"
    with pytest.raises(InvalidInput) as mismatch:
        rules.deployable_image(IMAGE.id, "other/app:2.0.0", IMAGE, [])
    assert only_field(mismatch.value) == "image"


def test_the_cluster_must_exist_and_run():
    assert rules.running_cluster(CLUSTER.id, CLUSTER) == CLUSTER
    with pytest.raises(InvalidInput) as missing:
        rules.running_cluster("nope", None)
    assert only_field(missing.value) == "cluster_id"
    with pytest.raises(Conflict) as stopped:
        rules.running_cluster(CLUSTER.id, replace(CLUSTER, status="stopped"))
    assert "cluster 'local' is stopped (current status: stopped)" in stopped.value.message
    assert stopped.value.details == {"field": "cluster_id", "current_status": "stopped"}


def test_a_referenced_chart_must_be_valid():
    assert rules.valid_chart(CHART.id, CHART) == CHART
    with pytest.raises(InvalidInput):
        rules.valid_chart("nope", None)
    with pytest.raises(Conflict) as invalid:
        rules.valid_chart(CHART.id, replace(CHART, status="invalid"))
    assert "current status: invalid" in invalid.value.message


def backend():
    return DeploymentAggregate.accept(
        deployment_spec(namespace="shop"),
        IMAGE,
        deployment_id="d1",
        rollout_id="r1",
        deadline=utcnow(),
    ).state


def test_a_service_targets_its_deployments_container_port_in_its_namespace():
    deployment = backend()
    assert rules.service_backend("d1", deployment, namespace="shop", target_port=8080)
    with pytest.raises(InvalidInput) as port:
        rules.service_backend("d1", deployment, namespace="shop", target_port=9090)
    assert only_field(port.value) == "target_port"
    assert "container_port 8080" in port.value.message
    with pytest.raises(InvalidInput) as namespace:
        rules.service_backend("d1", deployment, namespace="default", target_port=8080)
    assert only_field(namespace.value) == "namespace"
    with pytest.raises(InvalidInput) as missing:
        rules.service_backend("d1", None, namespace="shop", target_port=8080)
    assert only_field(missing.value) == "deployment_id"


def test_a_put_cannot_rename_the_objects_in_the_cluster():
    rules.same_identity(("c", "default", "web"), ("c", "default", "web"))
    with pytest.raises(InvalidInput) as renamed:
        rules.same_identity(("c", "default", "web"), ("c", "default", "api"))
    assert only_field(renamed.value) == "name"


def test_outage_reasons_say_what_happened_to_the_cluster():
    assert rules.cluster_outage(CLUSTER, CLUSTER.id) is None
    stopped = rules.cluster_outage(replace(CLUSTER, status="stopped"), CLUSTER.id)
    assert stopped == "cluster 'local' is stopped"
    broken = rules.cluster_outage(replace(CLUSTER, status="error", reason="apiserver down"), "x")
    assert broken == "cluster 'local' is in error: apiserver down"
    assert rules.cluster_outage(None, "c9") == "cluster 'c9' no longer exists"
    assert rules.failed_by_outage(stopped)
    assert not rules.failed_by_outage("ProgressDeadlineExceeded: ...")
    assert not rules.failed_by_outage(None)
