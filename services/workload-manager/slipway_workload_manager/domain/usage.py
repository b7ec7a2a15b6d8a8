"""A Deployment's resource usage from the PodMetrics of its pods (pure)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slipway_contracts.entities import DeploymentUsage, PodUsage

_CPU_UNITS = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
_MEMORY_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity (`250m`, `12345n`, `1`) in cores."""
    text = quantity.strip()
    factor = _CPU_UNITS.get(text[-1:])
    return float(text[:-1]) * factor if factor is not None else float(text)


def memory_bytes(quantity: str) -> float:
    """A Kubernetes memory quantity (`64Mi`, `1024Ki`, `1G`, `1000`) in bytes."""
    text = quantity.strip()
    for suffix in sorted(_MEMORY_UNITS, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * _MEMORY_UNITS[suffix]
    return float(text)


def _millicores(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def _mebibytes(size: float) -> str:
    return f"{round(size / 2**20)}Mi"


def sampled_at(pod_metrics: Sequence[Mapping[str, Any]], asked_at: datetime) -> datetime:
    """When the metrics were sampled: the newest PodMetrics `timestamp` (the start of the
    metrics server's window), else `asked_at`. Two reads within one window answer the same."""
    stamps = []
    for pod in pod_metrics:
        with contextlib.suppress(TypeError, ValueError):
            stamps.append(datetime.fromisoformat(str(pod.get("timestamp")).replace("Z", "+00:00")))
    return max(stamps, default=asked_at)


def usage_of(pod_metrics: Sequence[Mapping[str, Any]], asked_at: datetime) -> DeploymentUsage:
    """The usage of each pod (its containers summed) and of all of them, observed when the
    metrics server sampled them (`sampled_at`)."""
    pods, total_cpu, total_memory = [], 0.0, 0.0
    for pod in pod_metrics:
        containers = pod.get("containers") or []
        cpu = sum(cpu_cores(str((c.get("usage") or {}).get("cpu", "0"))) for c in containers)
        memory = sum(
            memory_bytes(str((c.get("usage") or {}).get("memory", "0"))) for c in containers
        )
        name = str((pod.get("metadata") or {}).get("name", ""))
        pods.append(PodUsage(name=name, cpu=_millicores(cpu), memory=_mebibytes(memory)))
        total_cpu, total_memory = total_cpu + cpu, total_memory + memory
    return DeploymentUsage(
        cpu=_millicores(total_cpu),
        memory=_mebibytes(total_memory),
        pods=sorted(pods, key=lambda p: p.name),
        observed_at=sampled_at(pod_metrics, asked_at),
    )
