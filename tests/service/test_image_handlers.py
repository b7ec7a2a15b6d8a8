"""The image-builder's handlers on FastStream's test broker, with the use cases on fakes:
replies and error classes."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.nats import TestNatsBroker

from slipway_contracts import subjects
from slipway_image_builder.handlers import commands
from slipway_image_builder.handlers.context import DEPENDENCIES
from slipway_libs.messaging import make_broker
from slipway_libs.settings import CommonSettings
from tests.unit.image_builder.fakes import add_context, dependencies, put_image

GOOD = {"name": "todo/web", "tag": "1.0.0", "application": "frontend", "build": {"context": "app"}}
IMAGE = subjects.CONTAINER_IMAGE


@pytest.fixture
async def bus(tmp_path):
    add_context(tmp_path)
    deps = dependencies(tmp_path)
    broker = make_broker(CommonSettings(nats_url="nats://127.0.0.1:1"), "image-builder")
    broker.include_router(commands.handlers.router(max_concurrency=8))
    async with TestNatsBroker(broker) as test_broker:
        test_broker.context.set_global(DEPENDENCIES, deps)
        yield test_broker, deps


async def ask(broker, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await broker.request(body, subject, timeout=3)
    return await response.decode()


async def test_a_valid_command_reaches_the_use_case_and_its_reply_returns(bus):
    broker, deps = bus
    reply = await ask(broker, subjects.command(IMAGE, "create"), GOOD)
    assert reply["ok"] is True
    assert reply["data"]["status"] == "building"
    assert [image.name for image in deps.images.rows.values()] == ["todo/web"]
    fetched = await ask(broker, subjects.query(IMAGE, "get"), {"id": reply["data"]["id"]})
    assert fetched == reply


async def test_an_invalid_command_gets_an_error_reply_per_field(bus):
    broker, deps = bus
    reply = await ask(
        broker, subjects.command(IMAGE, "create"), {**GOOD, "name": "Bad!", "tag": "x"}
    )
    assert reply["ok"] is False
    assert reply["error"]["code"] == "invalid"
    assert {d["field"] for d in reply["error"]["details"]} == {"name", "tag"}
    assert deps.images.rows == {}


async def test_classified_errors_keep_their_code(bus):
    broker, deps = bus
    missing = await ask(broker, subjects.command(IMAGE, "delete"), {"id": "nope"})
    assert missing["error"]["code"] == "not_found"
    image = put_image(deps, built=False)
    busy = await ask(broker, subjects.command(IMAGE, "update"), {**GOOD, "id": image.id})
    assert busy["error"]["code"] == "conflict"
    assert busy["error"]["details"] == {"current_status": "building"}
