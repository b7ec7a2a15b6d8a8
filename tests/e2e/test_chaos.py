"""The fault suite of `make chaos` (slipway_devstack.chaos), at two rounds: the HA topology
(a NATS cluster, a MongoDB replica set, two replicas of every service, two gateways) on free
loopback ports, under load through both gateways, while NATS servers, MongoDB primaries and
service replicas are killed. It starts and kills its own stack, so it shares nothing."""

from __future__ import annotations

import json

import pytest
from slipway_devstack import chaos

pytestmark = pytest.mark.slow
ROUNDS = 2


@pytest.mark.timeout(900)
def test_nothing_accepted_is_lost_and_nothing_is_published_twice_under_faults(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("chaos")  # short: dockerd's sockets live under it
    report_path = base / "report.json"
    report = chaos.run(
        ROUNDS, state_dir=base / "state", report_path=report_path, rate=3.0, dwell_s=3.0
    )
    shown = json.dumps(report.get("violation_details", report), indent=1)[:4000]
    assert report["violations"] == 0, shown  # only 2xx, or 503 with Retry-After; no hang
    assert report["lost"] == 0, (report["missing_entities"], report["stuck_entities"])
    assert report["duplicated"] == 0, (report["events"], report["duplicate_entities"])
    assert report["events"]["missing_versions"] == []
    assert report["idempotent_replays"] > 0  # retries with one Idempotency-Key were tried
    assert sum(report["accepted"].values()) > 0
    faults = {(f["round"], f["fault"]) for f in report["faults"]}
    assert len(faults) == 4 * ROUNDS
    for fault in report["faults"]:  # the API took writes again, and events flowed, after each
        assert fault["writes_back_s"] is not None, fault
        assert fault["events_flowing_s"] is not None, fault
        assert fault["healed_s"] is not None, fault
    assert report["ok"]
    assert json.loads(report_path.read_text())["ok"]
