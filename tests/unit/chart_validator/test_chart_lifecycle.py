"""The HelmChart lifecycle: validating → valid/invalid, every change re-validates."""

from __future__ import annotations

from datetime import timedelta

import pytest

from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_contracts.commands import ChartSpec
from slipway_contracts.entities import ChartSourceRef, Finding
from slipway_libs.aggregate import utcnow
from slipway_libs.statemachine import IllegalTransition

SPEC = ChartSpec.model_validate(
    {"name": "web", "version": "1.0.0", "app_version": "2", "source": {"path": "web"}}
)
SOURCE = ChartSourceRef(path="web")
ERROR = Finding(severity="error", rule="policy.liveness-probe", message="no probe")
WARNING = Finding(severity="warning", rule="helm.lint", message="icon is recommended")


def new_chart(validation_id: str = "v1") -> HelmChartAggregate:
    return HelmChartAggregate.register(
        SPEC, SOURCE, chart_id="c1", validation_id=validation_id, deadline=utcnow()
    )


def events(chart: HelmChartAggregate) -> list[str]:
    return [c.event for c in chart.changes]


def test_a_new_chart_is_validating_and_announced_as_created():
    chart = new_chart()
    assert chart.state.status == "validating"
    assert events(chart) == ["created"]


def test_warnings_only_make_a_valid_chart_and_an_error_an_invalid_one():
    good = new_chart()
    good.verdict("v1", [WARNING])
    assert (good.status, good.state.findings) == ("valid", [WARNING])
    bad = new_chart()
    bad.verdict("v1", [ERROR, WARNING])
    assert bad.status == "invalid"
    assert "1 error finding" in (bad.state.reason or "")


def test_a_stale_verdict_changes_nothing():
    chart = new_chart()
    chart.respecify(SPEC, SOURCE, validation_id="v2", deadline=utcnow())
    chart.verdict("v1", [ERROR])
    assert chart.status == "validating"
    chart.verdict("v2", [])
    assert chart.status == "valid"
    assert events(chart) == ["created", "updated", "valid"]


def test_a_put_on_a_judged_chart_validates_it_again():
    chart = new_chart()
    chart.verdict("v1", [ERROR])
    chart.respecify(SPEC, SOURCE, validation_id="v2", deadline=utcnow())
    assert (chart.status, chart.state.findings, chart.state.reason) == ("validating", [], None)
    assert events(chart)[-1] == "validating"


def test_a_validation_past_its_deadline_becomes_invalid_with_a_reason():
    chart = new_chart()
    assert not chart.expire(utcnow() - timedelta(minutes=1))
    assert chart.expire(utcnow() + timedelta(seconds=1))
    assert chart.status == "invalid"
    assert "deadline" in (chart.state.reason or "")


def test_status_moves_only_through_the_transition_table():
    chart = new_chart()
    chart.verdict("v1", [])
    with pytest.raises(IllegalTransition):
        chart.transition("valid")
