"""Verification against the engine (service_layer/verification.py), on fakes."""

from __future__ import annotations

import pytest

from slipway_contracts import subjects
from slipway_contracts.commands import VerifyImage
from slipway_image_builder.service_layer import verification
from slipway_libs.errors import NotFound
from tests.unit.image_builder.fakes import put_image

FAILED = subjects.event(subjects.CONTAINER_IMAGE, "failed")


async def test_a_built_image_gone_from_the_engine_fails_naming_it(deps):
    image = put_image(deps)
    del deps.engine.images[image.state.reference]

    reply = await verification.verify_image(deps, VerifyImage(id=image.id))

    assert reply["data"]["status"] == "failed"
    assert reply["data"]["reason"] == (
        f"image todo/backend:1.0.0 ({image.state.image_id}) no longer exists in the Docker Engine"
    )
    assert (await deps.images.get(image.id)).status == "failed"
    assert deps.uow.event_types() == [FAILED]


async def test_a_reference_pointing_at_another_build_counts_as_gone(deps):
    image = put_image(deps)
    deps.engine.images[image.state.reference] = "sha256:" + "2" * 64
    reply = await verification.verify_image(deps, VerifyImage(id=image.id))
    assert reply["data"]["status"] == "failed"


async def test_an_image_still_in_the_engine_is_left_as_it_is(deps):
    image = put_image(deps)
    reply = await verification.verify_image(deps, VerifyImage(id=image.id))
    assert reply["data"] == image.snapshot()
    assert deps.uow.events == []


async def test_an_unreachable_engine_tells_nothing_and_changes_nothing(deps):
    image = put_image(deps)
    deps.engine.unreachable = True
    reply = await verification.verify_image(deps, VerifyImage(id=image.id))
    assert reply["data"]["status"] == "built"
    assert deps.uow.events == []


async def test_verifying_an_unknown_image_is_not_found(deps):
    with pytest.raises(NotFound):
        await verification.verify_image(deps, VerifyImage(id="nope"))


async def test_the_periodic_check_fails_only_built_images_that_vanished(deps):
    kept = put_image(deps, name="todo/kept")
    vanished = put_image(deps, name="todo/vanished")
    building = put_image(deps, built=False, name="todo/building")
    del deps.engine.images[vanished.state.reference]

    await verification.verify_built_images(deps)

    assert (await deps.images.get(vanished.id)).status == "failed"
    assert (await deps.images.get(kept.id)).status == "built"
    assert (await deps.images.get(building.id)).status == "building"
    assert deps.uow.event_types() == [FAILED]
