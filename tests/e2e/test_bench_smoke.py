"""`make bench` at tiny sizes (a few operations per section, 100 entities, 5 deployments):
it starts its own stack, runs every section, writes the JSON and prints the table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.settings import SECTION_NAMES

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TABLE_HEADER = "| figure | value | ceiling / target | ratio | goal |"


def run_bench(results: Path, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    """`python -m bench --scale tiny` in a subprocess; interrupted (so that it stops the
    stack it started) if it overruns `timeout_s`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_BENCH_")}
    argv = [sys.executable, "-m", "bench", "--scale", "tiny", "--results-dir", str(results)]
    with subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            out, err = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
            pytest.fail(f"the bench overran {timeout_s:g} s:\n{err[-3000:]}")
        return subprocess.CompletedProcess(argv, process.returncode, out, err)


def test_a_tiny_bench_writes_every_section_and_prints_the_table(tmp_path: Path) -> None:
    result = run_bench(tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    [path] = tmp_path.glob("*.json")
    report = json.loads(path.read_text())
    for section in (*SECTION_NAMES, "rss"):
        assert section in report["sections"], section
        assert "error" not in report["sections"][section], report["sections"][section]
    assert report["sections"]["reads"]["seeded"] == 100
    assert report["sections"]["deployments"]["running"] == 5
    assert all(v is not None for v in report["sections"]["rss"]["idle"].values())
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["python"]
    assert {g["figure"] for g in report["goals"]} and all("passed" in g for g in report["goals"])
    assert TABLE_HEADER in result.stdout
    assert "Goals:" in result.stdout and str(path) in result.stdout
