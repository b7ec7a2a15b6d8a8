"""A Deployment's usage from its pods' PodMetrics: summed, and dated by the sample."""

from __future__ import annotations

from datetime import UTC, datetime

from slipway_workload_manager.domain.usage import usage_of

ASKED = datetime(2026, 11, 30, 12, 0, 7, tzinfo=UTC)


def pod(name: str, cpu: str, memory: str, timestamp: str | None) -> dict[str, object]:
    metrics: dict[str, object] = {
        "metadata": {"name": name},
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}],
    }
    if timestamp is not None:
        metrics["timestamp"] = timestamp
    return metrics


def test_usage_sums_the_pods_and_is_dated_by_the_newest_sample():
    usage = usage_of(
        [
            pod("web-b", "25000000n", "32Mi", "2026-11-30T12:00:00Z"),
            pod("web-a", "15m", "16384Ki", "2026-11-30T11:59:45Z"),
        ],
        ASKED,
    )
    assert (usage.cpu, usage.memory) == ("40m", "48Mi")
    assert [p.name for p in usage.pods] == ["web-a", "web-b"]
    assert usage.observed_at == datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def test_two_reads_of_one_sample_answer_the_same():
    sample = [pod("web-a", "15m", "16Mi", "2026-11-30T12:00:00Z")]
    later = datetime(2026, 11, 30, 12, 0, 9, tzinfo=UTC)
    assert usage_of(sample, ASKED) == usage_of(sample, later)


def test_without_a_sample_time_usage_is_dated_when_it_was_asked():
    assert usage_of([pod("web-a", "1m", "1Mi", None)], ASKED).observed_at == ASKED
    assert usage_of([pod("web-a", "1m", "1Mi", "not a time")], ASKED).observed_at == ASKED
