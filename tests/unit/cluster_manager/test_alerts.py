"""Recording the alerts Alertmanager delivers (service_layer/alerts.py) against fakes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from slipway_cluster_manager.service_layer.alerts import get_alert, list_alerts, record_alerts
from slipway_contracts import subjects
from slipway_contracts.commands import RecordAlerts
from slipway_contracts.queries import GetEntity, ListEntities
from tests.unit.cluster_manager.fakes import Parts

STARTS = "2026-01-01T10:00:00Z"


def delivered(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "SlipwayClusterNotRunning", "severity": "critical", **labels},
        "annotations": {"summary": "Cluster local is stopped"},
        "startsAt": STARTS,
        "endsAt": "2026-01-01T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
        "fingerprint": "a1b2c3d4e5f60718",
    }


def alert_events(parts: Parts) -> list[str]:
    prefix = subjects.event(subjects.ALERT, "")
    return [s.removeprefix(prefix) for s in parts.uow.event_types() if s.startswith(prefix)]


async def record(parts: Parts, *alerts: dict[str, Any]) -> dict[str, Any]:
    reply = await record_alerts(parts.deps, RecordAlerts.model_validate({"alerts": alerts}))
    return reply["data"]  # type: ignore[no-any-return]


async def test_a_firing_alert_is_recorded_linked_to_the_cluster_its_labels_name(parts: Parts):
    answer = await record(parts, delivered(cluster_id="c-1", name="local"))

    alert = answer["alerts"][0]
    assert answer["changed"] == 1
    assert (alert["status"], alert["name"], alert["severity"]) == (
        "firing",
        "SlipwayClusterNotRunning",
        "critical",
    )
    assert (alert["target_kind"], alert["target_id"]) == ("minikube_cluster", "c-1")
    assert alert["labels"]["name"] == "local"
    assert alert["ends_at"] is None
    assert alert_events(parts) == ["firing"]
    got = await get_alert(parts.deps, GetEntity(id=alert["id"]))
    assert got["data"]["fingerprint"] == "a1b2c3d4e5f60718"


async def test_a_repeated_delivery_changes_nothing_and_publishes_nothing(parts: Parts):
    await record(parts, delivered(cluster_id="c-1"))
    answer = await record(parts, delivered(cluster_id="c-1"))

    assert answer["changed"] == 0
    assert answer["alerts"][0]["revision"] == 1
    assert alert_events(parts) == ["firing"]


async def test_an_alert_resolves_and_may_fire_again(parts: Parts):
    await record(parts, delivered(cluster_id="c-1"))
    resolved = (await record(parts, delivered("resolved", cluster_id="c-1")))["alerts"][0]
    assert resolved["status"] == "resolved"
    assert resolved["ends_at"].startswith("2026-01-01T10:05:00")

    again = (await record(parts, delivered(cluster_id="c-1")))["alerts"][0]
    assert (again["status"], again["ends_at"]) == ("firing", None)
    assert alert_events(parts) == ["firing", "resolved", "firing"]
    firing = await list_alerts(parts.deps, ListEntities(status="firing"))
    assert [a["id"] for a in firing["data"]["items"]] == [again["id"]]


async def test_a_deployment_label_wins_over_its_cluster_label(parts: Parts):
    answer = await record(parts, delivered(cluster_id="c-1", deployment_id="d-1"))

    assert (answer["alerts"][0]["target_kind"], answer["alerts"][0]["target_id"]) == (
        "deployment",
        "d-1",
    )


async def test_an_alert_about_no_entity_is_kept_unlinked(parts: Parts):
    answer = await record(parts, delivered(job="slipway-gateway"))

    assert (answer["alerts"][0]["target_kind"], answer["alerts"][0]["target_id"]) == (None, None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"labels": {"severity": "critical"}}, "labels"),
        ({"status": "pending"}, "status"),
        ({"fingerprint": "../../etc"}, "fingerprint"),
    ],
)
def test_a_malformed_delivery_is_refused_naming_the_field(change: dict[str, Any], field: str):
    with pytest.raises(ValidationError) as refused:
        RecordAlerts.model_validate({"alerts": [{**delivered(), **change}]})
    assert field in str(refused.value)
