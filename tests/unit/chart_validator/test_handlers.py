"""The chart-validator's request-reply handlers on FastStream's test broker: each subject
reaches its use case through the dependencies app.py sets, and its reply returns. (The job
handler needs JetStream metadata the test broker does not give: the e2e tests run it.)"""

from __future__ import annotations

from typing import Any

import pytest
from faststream.nats import TestNatsBroker

from slipway_chart_validator.handlers import commands
from slipway_chart_validator.handlers.context import DEPENDENCIES
from slipway_contracts import subjects
from slipway_libs.messaging import make_broker
from slipway_libs.settings import CommonSettings

CHART = subjects.HELM_CHART
BODY = {"name": "web", "version": "1.0.0", "app_version": "1", "source": {"path": "web"}}


@pytest.fixture
async def bus(deps):
    broker = make_broker(CommonSettings(nats_url="nats://127.0.0.1:1"), "chart-validator")
    broker.include_router(commands.handlers.router(max_concurrency=8))
    async with TestNatsBroker(broker) as test_broker:
        test_broker.context.set_global(DEPENDENCIES, deps)
        yield test_broker, deps


async def ask(broker, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await broker.request(body, subject, timeout=3)
    return await response.decode()


async def test_commands_commit_through_the_unit_of_work_app_py_set(bus):
    broker, deps = bus
    create = subjects.command(CHART, "create")

    first = await ask(broker, create, BODY)
    second = await ask(broker, create, {**BODY, "name": "api"})
    again = await ask(broker, create, BODY)

    assert (first["ok"], second["ok"]) == (True, True)
    assert again["error"]["code"] == "conflict"
    assert {chart.name for chart in deps.charts.rows.values()} == {"web", "api"}
    assert deps.uow.event_types() == [subjects.event(CHART, "created")] * 2


async def test_queries_and_commands_on_one_chart_reach_their_use_cases(bus):
    broker, _ = bus
    chart = (await ask(broker, subjects.command(CHART, "create"), BODY))["data"]
    target = {"id": chart["id"], "expected_revision": 1}

    got = await ask(broker, subjects.query(CHART, "get"), {"id": chart["id"]})
    listed = await ask(broker, subjects.query(CHART, "list"), {"status": "validating"})
    again = await ask(broker, subjects.command(CHART, "validate"), target)
    updated = await ask(broker, subjects.command(CHART, "update"), {**BODY, **target})
    deleted = await ask(broker, subjects.command(CHART, "delete"), {"id": chart["id"]})
    gone = await ask(broker, subjects.query(CHART, "get"), {"id": chart["id"]})

    assert got["data"] == chart
    assert [c["id"] for c in listed["data"]["items"]] == [chart["id"]]
    assert again["data"]["revision"] == 2
    assert updated["error"]["code"] == "precondition_failed"
    assert deleted["data"]["revision"] == 3
    assert gone["error"]["code"] == "not_found"
