"""Loading a local image into a cluster (service_layer/image_loading.py)."""

from __future__ import annotations

import pytest

from slipway_cluster_manager.domain.ports import (
    IMAGE_NOT_FOUND,
    PermanentDriverError,
    TemporaryDriverError,
)
from slipway_cluster_manager.service_layer.image_loading import load_image
from slipway_contracts.commands import LoadImage
from slipway_libs.errors import Conflict, InvalidInput, NotFound, Unavailable
from tests.unit.cluster_manager.fakes import Parts


async def test_a_running_cluster_gets_the_image(parts: Parts):
    cluster = parts.put("web", status="running")

    reply = await load_image(parts.deps, LoadImage(id=cluster.id, image="web:1.0.0"))

    assert reply == {"ok": True, "data": {"id": cluster.id, "name": "web", "image": "web:1.0.0"}}
    assert parts.driver.loaded == [("web", "web:1.0.0")]
    assert parts.uow.events == []


async def test_a_cluster_that_is_not_running_takes_no_image(parts: Parts):
    cluster = parts.put("cold")

    with pytest.raises(Conflict) as refused:
        await load_image(parts.deps, LoadImage(id=cluster.id, image="web:1.0.0"))

    assert refused.value.message == (
        "cluster 'cold' is stopped; it must be running to load the image web:1.0.0 into it"
    )
    assert parts.driver.loaded == []


async def test_an_image_the_host_does_not_have_is_named(parts: Parts):
    cluster = parts.put(status="running")
    parts.driver.fail["load_image"] = PermanentDriverError(
        "image: web:9.9.9 is not in the local Docker Engine", code=IMAGE_NOT_FOUND
    )

    with pytest.raises(InvalidInput) as refused:
        await load_image(parts.deps, LoadImage(id=cluster.id, image="web:9.9.9"))

    assert refused.value.details == [
        {"field": "image", "message": "image: web:9.9.9 is not in the local Docker Engine"}
    ]


async def test_a_backend_that_cannot_load_now_is_unavailable(parts: Parts):
    cluster = parts.put(status="running")
    parts.driver.fail["load_image"] = TemporaryDriverError("docker save timed out")

    with pytest.raises(Unavailable):
        await load_image(parts.deps, LoadImage(id=cluster.id, image="web:1.0.0"))


async def test_a_backend_that_cannot_load_at_all_is_a_conflict_with_its_code(parts: Parts):
    cluster = parts.put(status="running")
    parts.driver.fail["load_image"] = PermanentDriverError("no runtime", code="NO_RUNTIME")

    with pytest.raises(Conflict) as refused:
        await load_image(parts.deps, LoadImage(id=cluster.id, image="web:1.0.0"))

    assert refused.value.details == {"driver_code": "NO_RUNTIME"}


async def test_an_unknown_cluster_is_not_found(parts: Parts):
    with pytest.raises(NotFound):
        await load_image(parts.deps, LoadImage(id="nope", image="web:1.0.0"))
