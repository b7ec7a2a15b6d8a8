"""The chart-validator's request-reply handlers on FastStream's test broker: each subject
reaches its use case with a unit of work of the message's own, and its reply returns. (The
job handler needs JetStream metadata the test broker does not give: the e2e tests run it.)"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from faststream.nats import TestNatsBroker

from slipway_chart_validator.handlers import commands
from slipway_contracts import subjects
from slipway_libs.messaging import make_broker
from tests.memory import InMemoryUnitOfWork

CHART = subjects.HELM_CHART
BODY = {"name": "web", "version": "1.0.0", "app_version": "1", "source": {"path": "web"}}


class UnitsOfWork:
    """Hands out a new in-memory unit of work per call and remembers them."""

    def __init__(self) -> None:
        self.made: list[InMemoryUnitOfWork] = []

    def __call__(self) -> InMemoryUnitOfWork:
        self.made.append(InMemoryUnitOfWork())
        return self.made[-1]


@pytest.fixture
async def bus(deps):
    units = UnitsOfWork()
    deps = replace(deps, unit_of_work=units)
    broker = make_broker("nats://127.0.0.1:1")
    broker.include_router(commands.router)
    async with TestNatsBroker(broker) as test_broker:
        test_broker.context.set_global("deps", deps)
        yield test_broker, deps, units


async def ask(broker, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await broker.request(body, subject, timeout=3)
    return await response.decode()


async def test_each_command_runs_in_a_unit_of_work_of_its_own(bus):
    broker, deps, units = bus

    created = await ask(broker, subjects.command(CHART, "create"), BODY)
    again = await ask(broker, subjects.command(CHART, "create"), BODY)

    assert created["ok"] is True and created["data"]["status"] == "validating"
    assert again["error"]["code"] == "conflict"
    made_per_message = units.made[1:]  # the first is the shared one's, never used here
    assert [u.event_types() for u in made_per_message] == [[subjects.event(CHART, "created")], []]
    assert deps.uow.events == []


async def test_queries_and_commands_on_one_chart_reach_their_use_cases(bus):
    broker, _, _ = bus
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
