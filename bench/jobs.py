"""Long-running work beside the plain tools doing the same: an image build through Slipway
against `docker build` of the same context on the same Docker Engine, and a chart
validation through Slipway against `helm lint`, `helm template` and `kubernetes-validate`
run one after the other on the same chart.

Slipway's wall time runs from sending the POST to the arrival of the entity's terminal
event (`built`/`failed`, `valid`/`invalid`) at an `events-reader` subscriber. One untimed
run of each side comes first, so both are timed warm (the engine's layer cache, the
schemas read once)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.api import expect
from bench.feed import EventFeed
from bench.measure import ratio
from bench.settings import ROOT, Sizes
from bench.target import Target
from slipway_contracts import subjects

BUILD_CONTEXT = ROOT / "examples" / "hello-server"
KUBERNETES_VERSION = "1.32.0"  # the chart-validator's default target ("1.32")
JOB_TIMEOUT_S = 600.0
BINARIES = Path(sys.executable).parent


async def _timed(
    argv: list[str], env: dict[str, str], stdout: Path | None = None, check: bool = True
) -> tuple[float, int]:
    """Run a command to its end; its wall time and exit status (with `check`, a RuntimeError
    quoting it when it fails)."""
    began = time.perf_counter()
    with open(stdout or os.devnull, "wb") as out:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=out, stderr=asyncio.subprocess.PIPE, env={**os.environ, **env}
        )
        _, errors = await process.communicate()
    elapsed = time.perf_counter() - began
    status = process.returncode if process.returncode is not None else -1
    if check and status != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} exited {status}: {errors[-300:]!r}")
    return elapsed, status


def _compare(slipway_s: list[float], plain_s: list[float]) -> dict[str, Any]:
    slipway = statistics.median(slipway_s) if slipway_s else None
    plain = statistics.median(plain_s) if plain_s else None
    return {
        "slipway_s": [round(s, 3) for s in slipway_s],
        "plain_s": [round(s, 3) for s in plain_s],
        "slipway_median_s": round(slipway, 3) if slipway is not None else None,
        "plain_median_s": round(plain, 3) if plain is not None else None,
        "ratio_slipway_to_plain": ratio(slipway, plain),
    }


async def _through_slipway(
    api: Any,
    feed: EventFeed,
    path: str,
    body: dict[str, Any],
    terminal: set[str],
    outcomes: list[str],
) -> float:
    """POST one entity and wait for its terminal event at the subscriber: the wall time from
    the request to the event's arrival (the outcome is kept in `outcomes`)."""
    sent = time.time()
    response = await api.post(path, json=body)
    expect(response, 202)
    done = await feed.wait_for(response.json()["id"], terminal, JOB_TIMEOUT_S)
    outcomes.append(done.event)
    return done.arrived_at - sent


async def image_build(target: Target, sizes: Sizes, run_id: str) -> dict[str, Any]:
    # The classic builder, as the docker SDK Slipway builds with; no network, as Slipway.
    env = {
        "DOCKER_BUILDKIT": "0",
        **({"DOCKER_HOST": target.docker_host} if target.docker_host else {}),
    }
    tags: list[str] = []

    async def docker_build(tag: str) -> float:
        tags.append(tag)
        argv = ["docker", "build", "--network", "none", "--rm", "--force-rm", "-t", tag]
        return (await _timed([*argv, str(BUILD_CONTEXT)], env))[0]

    slipway_s: list[float] = []
    plain_s: list[float] = []
    outcomes: list[str] = []
    try:
        async with (
            EventFeed(
                target.nats_options("events-reader"), subjects.event("container_image", ">")
            ) as feed,
            target.http(4) as api,
        ):

            async def slipway_build(name: str) -> float:
                body = {
                    "name": name,
                    "tag": "1.0.0",
                    "application": "backend",
                    "build": {"context": str(BUILD_CONTEXT)},
                }
                return await _through_slipway(
                    api, feed, "/api/container-images", body, {"built", "failed"}, outcomes
                )

            warm_plain = await docker_build(f"bench/plain-{run_id}:warm")
            warm_slipway = await slipway_build(f"bench/hello-{run_id}-warm")
            for i in range(sizes.builds):
                slipway_s.append(await slipway_build(f"bench/hello-{run_id}-{i}"))
                plain_s.append(await docker_build(f"bench/plain-{run_id}-{i}:1.0.0"))
    finally:
        with contextlib.suppress(Exception):
            await _timed(["docker", "image", "rm", "-f", *tags], env, check=False)
    return {
        "context": str(BUILD_CONTEXT.relative_to(ROOT)),
        "slipway": "POST /api/container-images → `built` event at the subscriber",
        "plain": "docker build --network none (classic builder, as the docker SDK), same engine",
        "warmup_s": {"plain": round(warm_plain, 3), "slipway": round(warm_slipway, 3)},
        "outcomes": outcomes,
        **_compare(slipway_s, plain_s),
    }


async def chart_validation(target: Target, sizes: Sizes, run_id: str) -> dict[str, Any]:
    chart = target.chart_dir
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    slipway_s: list[float] = []
    plain_s: list[float] = []
    outcomes: list[str] = []
    steps: list[dict[str, float | int]] = []
    with tempfile.TemporaryDirectory(prefix="slipway-bench-helm-") as home:
        env = {
            "HOME": home,
            "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config",
            "HELM_DATA_HOME": f"{home}/data",
        }
        rendered = Path(home) / "rendered.yaml"
        helm = str(BINARIES / "helm")
        version = ["--kube-version", KUBERNETES_VERSION]

        async def clis() -> float:
            lint, lint_status = await _timed(
                [helm, "lint", "--strict", str(chart), *version], env, check=False
            )
            template, _ = await _timed(
                [helm, "template", meta["name"], str(chart), "--include-crds", *version],
                env,
                stdout=rendered,
            )
            validate, validate_status = await _timed(
                [
                    str(BINARIES / "kubernetes-validate"),
                    "-k",
                    KUBERNETES_VERSION,
                    "--strict",
                    "--quiet",
                    str(rendered),
                ],
                env,
                check=False,
            )
            steps.append(
                {
                    "helm_lint_s": round(lint, 3),
                    "helm_lint_exit": lint_status,
                    "helm_template_s": round(template, 3),
                    "kubernetes_validate_s": round(validate, 3),
                    "kubernetes_validate_exit": validate_status,
                }
            )
            return lint + template + validate

        async with (
            EventFeed(
                target.nats_options("events-reader"), subjects.event("helm_chart", ">")
            ) as feed,
            target.http(4) as api,
        ):

            async def slipway_validation(namespace: str) -> float:
                body = {
                    "name": meta["name"],
                    "version": str(meta["version"]),
                    "app_version": str(meta.get("appVersion", meta["version"])),
                    "namespace": namespace,
                    "source": {"path": str(chart)},
                }
                return await _through_slipway(
                    api, feed, "/api/helm-charts", body, {"valid", "invalid"}, outcomes
                )

            warm_plain = await clis()
            steps.clear()
            warm_slipway = await slipway_validation(f"b{run_id}-warm")
            for i in range(sizes.validations):
                slipway_s.append(await slipway_validation(f"b{run_id}-v{i}"))
                plain_s.append(await clis())
    return {
        "chart": str(chart.relative_to(ROOT)) if chart.is_relative_to(ROOT) else str(chart),
        "slipway": "POST /api/helm-charts → `valid`/`invalid` event at the subscriber",
        "plain": f"helm lint --strict, helm template --include-crds, kubernetes-validate --strict "
        f"(Kubernetes {KUBERNETES_VERSION}), one after the other",
        "warmup_s": {"plain": round(warm_plain, 3), "slipway": round(warm_slipway, 3)},
        "outcomes": outcomes,
        "plain_steps": steps,
        **_compare(slipway_s, plain_s),
    }
