"""The image-builder's handlers on FastStream's test broker: replies and error classes."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.nats import TestNatsBroker

from slipway_contracts.commands import BuildImage, DeleteImage
from slipway_image_builder.handlers import commands
from slipway_libs.errors import Conflict, NotFound
from slipway_libs.messaging import make_broker

GOOD = {"name": "todo/web", "tag": "1.0.0", "application": "frontend", "build": {"context": "app"}}


class FakeImages:
    """Implements the calls the handlers make on ImageService."""

    def __init__(self) -> None:
        self.created: list[BuildImage] = []

    async def create(self, command: BuildImage) -> dict[str, Any]:
        self.created.append(command)
        return {
            "ok": True,
            "data": {"id": "i1", "status": "building", **command.model_dump(mode="json")},
        }

    async def delete(self, command: DeleteImage) -> dict[str, Any]:
        raise NotFound(f"container_image '{command.id}' does not exist")

    async def update(self, command: Any) -> dict[str, Any]:
        raise Conflict(
            "image 'i1' is building (current status: building)", {"current_status": "building"}
        )


@pytest.fixture
async def bus():
    broker = make_broker("nats://127.0.0.1:1")
    broker.include_router(commands.router)
    async with TestNatsBroker(broker) as test_broker:
        images = FakeImages()
        test_broker.context.set_global("images", images)
        yield test_broker, images


async def ask(broker, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await broker.request(body, subject, timeout=3)
    return await response.decode()


async def test_a_valid_command_reaches_the_service_and_its_reply_returns(bus):
    broker, images = bus
    reply = await ask(broker, "slipway.container_image.cmd.create", GOOD)
    assert reply["ok"] is True
    assert reply["data"]["status"] == "building"
    assert images.created[0].name == "todo/web"


async def test_an_invalid_command_gets_an_error_reply_per_field(bus):
    broker, images = bus
    reply = await ask(
        broker, "slipway.container_image.cmd.create", {**GOOD, "name": "Bad!", "tag": "x"}
    )
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid"
    assert {d["field"] for d in reply["error"]["details"]} == {"name", "tag"}
    assert images.created == []


async def test_classified_errors_keep_their_code(bus):
    broker, _ = bus
    missing = await ask(broker, "slipway.container_image.cmd.delete", {"id": "nope"})
    assert missing["error"]["code"] == "not_found"
    busy = await ask(broker, "slipway.container_image.cmd.update", {**GOOD, "id": "i1"})
    assert busy["error"]["code"] == "conflict"
    assert busy["error"]["details"] == {"current_status": "building"}
