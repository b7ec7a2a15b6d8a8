"""The projections of images, charts and clusters (real MongoDB): only newer events
count, whatever order or how many times they arrive."""

from __future__ import annotations

from dataclasses import replace

from slipway_workload_manager.service_layer import projections
from tests.integration.workload_manager.workloads import (
    FakeWorld,
    seed,
)
from tests.unit.workload_manager.fakes import CLUSTER, IMAGE, cluster_event, event, image_event

# The shared fixtures (world, sim_cluster) live in a module of their own.
pytest_plugins = ["tests.integration.workload_manager.fixtures"]


async def test_events_apply_in_order_and_a_redelivery_changes_nothing(world: FakeWorld):
    parts = world.parts
    building, built = image_event("building", 1), image_event("built", 2, digest="sha256:b")
    await seed(parts, building, built, built, building)
    image = await parts.projections.image(IMAGE.id)
    assert image is not None
    assert (image.status, image.digest, image.reference) == ("built", "sha256:b", "shop/web:1.0.0")
    assert await parts.projections.version("container_image", IMAGE.id) == 2


async def test_an_older_event_arriving_late_is_ignored(world: FakeWorld):
    parts = world.parts
    await seed(parts, cluster_event("stopped", 5), cluster_event("running", 4))
    cluster = await parts.projections.cluster(CLUSTER.id)
    assert cluster is not None and cluster.status == "stopped"


async def test_a_deleted_entity_is_gone_and_stays_gone_whatever_comes_late(world: FakeWorld):
    parts = world.parts
    chart = event("helm_chart", "valid", "ch-1", 2, name="web", status="valid")
    deleted = event("helm_chart", "deleted", "ch-1", 3, name="web", status="valid")
    await seed(parts, chart, deleted, chart)
    assert await parts.projections.chart("ch-1") is None
    assert await parts.projections.version("helm_chart", "ch-1") == 3


async def test_images_are_found_by_reference_newest_first(world: FakeWorld):
    parts = world.parts
    other = replace(IMAGE, id="img-9")
    await seed(parts, image_event("failed", 3, reason="gone"), image_event("built", 1, other))
    found = await parts.projections.images_named("shop/web:1.0.0")
    assert [(i.id, i.status) for i in found] == [(IMAGE.id, "failed"), ("img-9", "built")]
    assert await parts.projections.images_named("nosuch/image:1.0") == []


async def test_events_of_this_services_own_entities_are_skipped(world: FakeWorld):
    parts = world.parts
    assert not await projections.project_event(parts.deps, event("deployment", "running", "d1", 2))
