"""`metrics.k8s.io/v1beta1` PodMetrics for the simulated pods, as metrics-server serves them.

Nothing runs in a simulated pod, so its usage is made up, plausibly: each running container
uses a steady share of what it requests (30-70 % of its CPU request, 40-80 % of its memory
request; a container without requests, 1-5 m CPU and 8-24 Mi), drifting a few percent per
window, the same for every caller within a window (`WINDOW_S`, metrics-server's default
resolution is 15 s)."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from slipway_simcluster.meta import LabelSelector

GROUP_VERSION = "metrics.k8s.io/v1beta1"
WINDOW_S = 15
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 10**3, "M": 10**6, "G": 10**9}


def _cpu_millicores(quantity: str | None) -> float | None:
    if not quantity:
        return None
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def _memory_bytes(quantity: str | None) -> float | None:
    if not quantity:
        return None
    text = str(quantity)
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _share(seed: str, low: float, high: float) -> float:
    """A number in [low, high) fixed by `seed` (the container and the time window)."""
    digest = hashlib.sha256(seed.encode()).digest()
    return low + (high - low) * int.from_bytes(digest[:4], "big") / 2**32


def container_usage(pod_uid: str, container: dict[str, Any], window: int) -> dict[str, str]:
    """The usage of one container of a running pod in the time window `window`."""
    requests = (container.get("resources") or {}).get("requests") or {}
    seed = f"{pod_uid}/{container.get('name')}"
    drift = _share(f"{seed}/{window}", 0.95, 1.05)
    cpu, memory = _cpu_millicores(requests.get("cpu")), _memory_bytes(requests.get("memory"))
    used_cpu = cpu * _share(seed + "/cpu", 0.3, 0.7) if cpu else _share(seed + "/cpu", 1, 5)
    used_memory = (
        memory * _share(seed + "/mem", 0.4, 0.8) if memory else _share(seed + "/mem", 8, 24) * 2**20
    )
    return {
        "cpu": f"{max(int(used_cpu * drift * 1_000_000), 1)}n",  # nanocores, as metrics-server says
        "memory": f"{max(int(used_memory * drift / 1024), 1)}Ki",
    }


def pod_metrics(pod: dict[str, Any], now: float | None = None) -> dict[str, Any] | None:
    """The PodMetrics of `pod`; None unless it is Running (metrics-server has none then)."""
    if (pod.get("status") or {}).get("phase") != "Running":
        return None
    now = time.time() if now is None else now
    window = int(now // WINDOW_S)
    metadata = pod.get("metadata") or {}
    uid = str(metadata.get("uid") or metadata.get("name"))
    containers = (pod.get("spec") or {}).get("containers") or []
    return {
        "kind": "PodMetrics",
        "apiVersion": GROUP_VERSION,
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "labels": dict(metadata.get("labels") or {}),
            "creationTimestamp": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "timestamp": datetime.fromtimestamp(window * WINDOW_S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window": f"{WINDOW_S}s",
        "containers": [
            {"name": c.get("name"), "usage": container_usage(uid, c, window)} for c in containers
        ],
    }


def pod_metrics_list(pods: list[dict[str, Any]], selector: str | None) -> dict[str, Any]:
    """`PodMetricsList` of the running `pods` matching the label `selector`."""
    labels = LabelSelector.parse(selector)
    items = [
        metrics
        for pod in pods
        if labels.matches((pod.get("metadata") or {}).get("labels"))
        and (metrics := pod_metrics(pod)) is not None
    ]
    return {"kind": "PodMetricsList", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}
