"""Many charts validated at once: every one reaches a verdict, and the verdicts are stable."""

from __future__ import annotations

import io
import tarfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.stack import ROOT, poll

FIXTURES = ROOT / "tests" / "fixtures" / "charts"
TERMINAL = {"valid", "invalid"}
EXPECTED = {
    "good": "valid",
    "bad-policy": "invalid",
    "bad-syntax": "invalid",
    "bad-schema": "invalid",
}
CHARTS = 20


def tgz(chart: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(FIXTURES / chart, arcname=chart)
    return buffer.getvalue()


def register(api, index: int, run: str) -> tuple[str, str]:
    """Register one fixture chart, by path or (every other one) as an upload; (id, fixture)."""
    chart = list(EXPECTED)[index % len(EXPECTED)]
    fields = {
        "name": chart,
        "version": "0.1.0",
        "app_version": "1.0.0",
        "namespace": f"load-{run}-{index}",  # unique (namespace, name) per chart
    }
    if index % 2:
        response = api.post(
            "/api/helm-charts", data=fields, files={"chart": (f"{chart}.tgz", tgz(chart))}
        )
    else:
        body = {**fields, "source": {"path": str(FIXTURES / chart)}}
        response = api.post("/api/helm-charts", json=body)
    assert response.status_code == 202, response.text
    return response.json()["id"], chart


def verdict(chart: dict[str, Any]) -> tuple[str, list[tuple[Any, ...]]]:
    """The status and the findings, order aside."""
    keys = ("rule", "severity", "resource", "path", "message")
    findings = sorted(tuple(str(f.get(k)) for k in keys) for f in chart["findings"])
    return chart["status"], findings


def wait_all_judged(api, after: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Poll until every chart is valid or invalid at a revision above `after[id]`."""

    def judged() -> dict[str, dict[str, Any]] | None:
        charts = {chart_id: api.get(f"/api/helm-charts/{chart_id}").json() for chart_id in after}
        done = all(
            c.get("status") in TERMINAL and c["revision"] > after[i] for i, c in charts.items()
        )
        return charts if done else None

    return poll(judged, timeout_s=180, interval_s=0.5, what=f"{len(after)} charts judged")  # type: ignore[no-any-return]


def test_twenty_charts_validated_at_once_all_finish_with_stable_findings(api):
    run = uuid.uuid4().hex[:6]
    with ThreadPoolExecutor(CHARTS) as pool:
        registered = dict(pool.map(lambda i: register(api, i, run), range(CHARTS)))

    first = wait_all_judged(api, {chart_id: 1 for chart_id in registered})
    for chart_id, chart in first.items():
        assert chart["status"] == EXPECTED[registered[chart_id]], chart["findings"]
        assert chart["status"] == "valid" or chart["findings"]

    def revalidate(chart_id: str) -> tuple[str, int]:
        response = api.post(f"/api/helm-charts/{chart_id}/validate")
        assert response.status_code == 202, response.text
        return chart_id, response.json()["revision"]

    with ThreadPoolExecutor(CHARTS) as pool:
        revalidating = dict(pool.map(revalidate, registered))

    second = wait_all_judged(api, revalidating)
    for chart_id in registered:
        assert verdict(second[chart_id]) == verdict(first[chart_id]), registered[chart_id]
