"""The run's verdict: each figure beside its ceiling or target with the ratio, the goals of
issue 11 passed or failed, as a markdown table and in the JSON.

The JSON (`bench/results/<timestamp>.json`): `run_id`, `started_at`, `finished_at`,
`scale`, `sizes`, `machine` (cores, memory, OS, Python, package and tool versions, the
commit), `stack` (embedded or external; no credential), `sections` (one object per
section: `raw`, `rest_create`, `nats_create`, `reads`, `events`, `image_build`,
`chart_validation`, `deployments`, `rss`; a section that failed holds `error`), `figures`
(the table's rows) and `goals` (the rows that carry a goal, with `passed`: true, false, or null when its section did not run).
Ratio = figure ÷ ceiling (or target): for throughput higher is better, for times lower.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.measure import ratio

RSS_LIMIT_MB = 150.0
NOTES = (
    "Create: POST /api/minikube-clusters with driver `sim`, not started (one entity, one "
    "event, no job); over NATS the same command to the cluster-manager as `admin`.",
    "Event latency: from the event's `time` (stamped by the service as it commits) to its "
    "arrival at an `events-reader` subscriber of SLIPWAY_EVENTS.",
    "Reads: entities seeded straight into the cluster-manager's database (bypassing the API).",
    "The bench runs on the same cores as the stack: its own CPU use lowers every figure, "
    "the raw ceiling's too.",
)


@dataclass
class Row:
    figure: str
    value: float | None
    unit: str
    reference: float | None = None
    reference_label: str = ""
    goal: str | None = None
    passed: bool | None = None  # None: the goal's section did not run (skipped or failed)
    section: str | None = None

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.reference)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def dig(data: Any, *keys: str) -> Any:
    """data[k1][k2]..., or None where any step is missing."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _at_most(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def figures(sections: dict[str, Any]) -> list[Row]:
    """Every row of the table, from the sections' results."""
    raw = dig(sections, "raw", "by_in_flight") or {}
    rest = dig(sections, "rest_create", "by_in_flight") or {}
    over_nats = dig(sections, "nats_create", "by_in_flight") or {}
    rows: list[Row] = []
    for level in ("1", "64"):
        rows.append(Row(f"raw ceiling, {level} in flight", dig(raw, level, "ops_per_s"), "ops/s"))
        rows.append(
            Row(f"raw ceiling p99, {level} in flight", dig(raw, level, "latency", "p99_ms"), "ms")
        )

    for label, results, levels in (
        ("REST create", rest, ("1", "16", "64")),
        ("NATS create", over_nats, ("1", "64")),
    ):
        for level in levels:
            base = "1" if level == "1" else "64"  # the raw ceiling nearest in concurrency
            throughput = Row(
                f"{label}, {level} in flight",
                dig(results, level, "ops_per_s"),
                "ops/s",
                dig(raw, base, "ops_per_s"),
                f"raw, {base} in flight",
            )
            if label == "REST create" and level == "64":
                throughput.goal, throughput.section = "≥ 0.5x raw", "rest_create"
                throughput.passed = throughput.ratio is not None and throughput.ratio >= 0.5
            rows.append(throughput)
            rows.append(
                Row(
                    f"{label} p50, {level} in flight",
                    dig(results, level, "latency", "p50_ms"),
                    "ms",
                    dig(raw, base, "latency", "p50_ms"),
                    f"raw p50, {base} in flight",
                )
            )
            p99 = dig(results, level, "latency", "p99_ms")
            if label == "REST create" and level == "16":
                rows.append(
                    Row(
                        f"{label} p99, {level} in flight",
                        p99,
                        "ms",
                        50.0,
                        "target",
                        "≤ 50 ms",
                        _at_most(p99, 50.0),
                        "rest_create",
                    )
                )
            else:
                rows.append(
                    Row(
                        f"{label} p99, {level} in flight",
                        p99,
                        "ms",
                        dig(raw, base, "latency", "p99_ms"),
                        f"raw p99, {base} in flight",
                    )
                )
    reads = sections.get("reads") or {}
    count = reads.get("entities_in_collection")
    at = f"at {count:,} entities" if count else "at the seeded count"
    rows.append(Row(f"GET one p50, {at}", dig(reads, "get", "latency", "p50_ms"), "ms"))
    rows.append(Row(f"GET one p99, {at}", dig(reads, "get", "latency", "p99_ms"), "ms"))
    rows.append(Row(f"list of 50 p50, {at}", dig(reads, "list", "latency", "p50_ms"), "ms"))
    list_p99 = dig(reads, "list", "latency", "p99_ms")
    rows.append(
        Row(
            f"list of 50 p99, {at}",
            list_p99,
            "ms",
            50.0,
            "target",
            "≤ 50 ms",
            _at_most(list_p99, 50.0),
            "reads",
        )
    )
    rows.append(
        Row(f"list of 50 from halfway p99, {at}", dig(reads, "list_mid", "latency", "p99_ms"), "ms")
    )
    events = sections.get("events") or {}
    rate = events.get("offered_rate_per_s")
    rows.append(
        Row(
            "creates answered per s while timing events",
            events.get("answered_rate_per_s"),
            "/s",
            rate,
            "offered rate",
        )
    )
    rows.append(
        Row(
            "event latency p50 (from event time)",
            dig(events, "latency_from_event_time", "p50_ms"),
            "ms",
        )
    )
    event_p99 = dig(events, "latency_from_event_time", "p99_ms")
    rows.append(
        Row(
            f"event latency p99 (from event time), {rate or '?'} creates/s",
            event_p99,
            "ms",
            20.0,
            "target",
            "≤ 20 ms, none missing",
            _at_most(event_p99, 20.0) and events.get("events_missing") == 0,
            "events",
        )
    )
    rows.append(
        Row(
            "event latency p99 (from REST answer)",
            dig(events, "latency_from_rest_answer", "p99_ms"),
            "ms",
        )
    )
    for section, label, plain in (
        ("image_build", "image build, warm cache (median)", "docker build"),
        (
            "chart_validation",
            "chart validation (median)",
            "helm lint + template + kubernetes-validate",
        ),
    ):
        rows.append(
            Row(
                label,
                dig(sections, section, "slipway_median_s"),
                "s",
                dig(sections, section, "plain_median_s"),
                plain,
            )
        )
    deployments = sections.get("deployments") or {}
    wanted = deployments.get("deployments")
    all_running_s = deployments.get("all_running_s")
    rows.append(
        Row(
            f"{wanted or '?'} deployment creates all answered",
            dig(deployments, "creates", "wall_s"),
            "s",
        )
    )
    rows.append(
        Row(
            f"{wanted or '?'} deployments all running",
            all_running_s,
            "s",
            30.0,
            "target",
            "≤ 30 s",
            bool(deployments.get("all_running")) and _at_most(all_running_s, 30.0),
            "deployments",
        )
    )
    rss = sections.get("rss") or {}
    for service, peak in (rss.get("under_load_peak") or {}).items():
        rows.append(
            Row(f"RSS {service}, idle", dig(rss, "idle", service), "MB", RSS_LIMIT_MB, "target")
        )
        rows.append(
            Row(
                f"RSS {service}, peak under load",
                peak,
                "MB",
                RSS_LIMIT_MB,
                "target",
                "≤ 150 MB",
                _at_most(peak, RSS_LIMIT_MB),
                "rss",
            )
        )
    for row in rows:
        if row.section is not None and not _ran(sections, row.section):
            row.passed = None
    return rows


def _ran(sections: dict[str, Any], name: str) -> bool:
    found = sections.get(name)
    return isinstance(found, dict) and not ("skipped" in found or "error" in found)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    digits = 2 if unit == "s" else 1
    return f"{value:,.{digits}f} {unit}"


def markdown(rows: list[Row]) -> str:
    """The table: figure, value, ceiling or target, ratio, goal."""
    lines = [
        "| figure | value | ceiling / target | ratio | goal |",
        "|---|---:|---|---:|---|",
    ]
    for row in rows:
        reference = (
            f"{_number(row.reference, row.unit)} ({row.reference_label})"
            if row.reference is not None
            else ""
        )
        ratio_text = f"{row.ratio:.3f}" if row.ratio is not None else ""
        goal = ""
        if row.goal is not None:
            verdict = "n/a" if row.passed is None else "**PASS**" if row.passed else "**FAIL**"
            goal = f"{verdict} ({row.goal})"
        lines.append(
            f"| {row.figure} | {_number(row.value, row.unit)} | {reference} | {ratio_text} | {goal} |"
        )
    goals = [r for r in rows if r.goal is not None]
    passed = sum(1 for r in goals if r.passed)
    unmeasured = sum(1 for r in goals if r.passed is None)
    lines += [
        "",
        f"Goals: {passed} of {len(goals)} pass"
        + (f" ({unmeasured} not measured)" if unmeasured else "")
        + ". Ratio = figure ÷ ceiling or target.",
        *(f"- {note}" for note in NOTES),
    ]
    return "\n".join(lines)
