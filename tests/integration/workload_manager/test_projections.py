"""The projections of images, charts and clusters (real MongoDB): only newer events
count, whatever order or how many times they arrive."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slipway_libs.errors import Unavailable
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


async def test_a_batch_keeps_the_newer_of_two_versions_and_an_older_one_changes_nothing(
    world: FakeWorld,
):
    parts = world.parts
    await seed(parts, cluster_event("stopped", 5))
    batch = [
        image_event("built", 2, digest="sha256:b"),
        image_event("building", 1),
        cluster_event("running", 4),  # older than the row: refused, the rest is written
        event("helm_chart", "valid", "ch-1", 1, name="web", status="valid"),
    ]
    assert await projections.project_events(parts.deps, batch) == 4
    image = await parts.projections.image(IMAGE.id)
    assert image is not None and (image.status, image.digest) == ("built", "sha256:b")
    cluster = await parts.projections.cluster(CLUSTER.id)
    assert cluster is not None and cluster.status == "stopped"
    chart = await parts.projections.chart("ch-1")
    assert chart is not None and chart.status == "valid"


async def test_a_write_refused_mid_batch_raises_and_its_redelivery_loses_nothing(
    world: FakeWorld,
):
    parts = world.parts
    db = parts.database.db
    await db.create_collection("projected_clusters", validator={"status": {"$ne": "running"}})
    batch = [image_event("built", 2), cluster_event("running", 1), image_event("failed", 3)]
    with pytest.raises(Unavailable):  # the handler acks none of the batch: all come again
        await projections.project_events(parts.deps, batch)
    assert await parts.projections.cluster(CLUSTER.id) is None
    await db.command({"collMod": "projected_clusters", "validator": {}})
    assert await projections.project_events(parts.deps, batch) == 3  # the redelivery
    cluster = await parts.projections.cluster(CLUSTER.id)
    assert cluster is not None and cluster.status == "running"
    image = await parts.projections.image(IMAGE.id)
    assert image is not None and image.status == "failed"
    assert await parts.projections.version("container_image", IMAGE.id) == 3
