"""One bench run: the stack, every section in order, the JSON and the table."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from bench import api, cleanup, events, jobs, machine, raw, report, rollout
from bench.memory import MemorySampler
from bench.settings import Options, Sizes, options
from bench.target import Target, embedded_target, external_target

Section = Callable[[Target, Sizes, str], Awaitable[dict[str, Any]]]
SECTIONS: dict[str, Section] = {
    "raw": raw.measure,
    "rest_create": api.rest_create,
    "nats_create": api.nats_create,
    "reads": api.reads,
    "events": events.measure,
    "image_build": jobs.image_build,
    "chart_validation": jobs.chart_validation,
    "deployments": rollout.measure,
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def _mongod_version(target: Target) -> str | None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(target.mongodb_uri)
    try:
        return str((await client.server_info())["version"])
    finally:
        await client.close()


async def run_sections(target: Target, chosen: Options, run_id: str) -> dict[str, Any]:
    """Every section in order (one that fails holds its error), then the memory figures."""
    sampler = MemorySampler(target.pids)
    sampler.start()
    results: dict[str, Any] = {}
    try:
        for name, section in SECTIONS.items():
            if name not in chosen.sections:
                results[name] = {"skipped": True}
                continue
            log(f"{name} …")
            began = time.perf_counter()
            with sampler.section(name):
                try:
                    results[name] = await section(target, chosen.sizes, run_id)
                except Exception as exc:
                    traceback.print_exc()
                    results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            results[name]["section_s"] = round(time.perf_counter() - began, 2)
            log(f"{name} done in {results[name]['section_s']} s")
    finally:
        sampler.stop()
    results["rss"] = sampler.summary()
    if target.mode == "external":
        results["cleanup"] = await cleanup.remove_run(target, run_id)
    return results


@contextlib.contextmanager
def stack(chosen: Options) -> Iterator[Target]:
    if os.environ.get("SLIPWAY_BENCH_URL"):
        yield external_target()
    else:
        with embedded_target(chosen.keep_state) as target:
            yield target


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds, so the embedded stack is stopped


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminated)
    chosen = options(argv)
    run_id = uuid.uuid4().hex[:6]
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    log(f"run {run_id}, scale {chosen.scale}; starting the stack")
    with stack(chosen) as target:
        log(f"stack ready at {target.base_url} ({target.mode})")
        facts = machine.facts(target.docker_host)
        sections = asyncio.run(run_sections(target, chosen, run_id))
        facts["tools"]["mongod"] = asyncio.run(_mongod_version(target))
        described = target.describe()
    rows = report.figures(sections)
    result = {
        "run_id": run_id,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "scale": chosen.scale,
        "sizes": dataclasses.asdict(chosen.sizes),
        "sections_run": list(chosen.sections),
        "machine": facts,
        "stack": described,
        "sections": sections,
        "figures": [row.as_dict() for row in rows],
        "goals": [row.as_dict() for row in rows if row.goal is not None],
        "notes": list(report.NOTES),
    }
    chosen.results_dir.mkdir(parents=True, exist_ok=True)
    path = Path(chosen.results_dir) / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(report.markdown(rows))
    print(f"\nResults: {path}")
    return 0
