"""Reads the real capabilities of the machine the clusters run on.

Limits imposed on this process are honoured: CPU affinity and a cgroup v2 CPU quota
lower the core count, a cgroup v2 memory limit lowers total memory. Clusters started by
minikube's docker driver live outside our cgroup, but the smaller figure is the safe one
when Slipway itself runs in a container.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from slipway_cluster_manager.domain.capabilities import HostCapabilities

MIB = 1024 * 1024
DEFAULT_MEMORY_RESERVE_MB = 1024
CGROUP_ROOT = Path("/sys/fs/cgroup")


def read_host_capabilities(
    state_dir: Path, *, memory_reserve_mb: int = DEFAULT_MEMORY_RESERVE_MB
) -> HostCapabilities:
    """Cores, memory and free disk (of the filesystem holding `state_dir`) of this host."""
    return HostCapabilities(
        cpu_cores=cpu_cores(),
        memory_total_mb=memory_total_mb(),
        memory_reserve_mb=memory_reserve_mb,
        disk_free_mb=disk_free_mb(state_dir),
    )


class RecentHostCapabilities:
    """The host's capabilities read at most once per `max_age_s`: cores and memory do not
    change while Slipway runs and free disk moves slowly, so a burst of creates need not
    read /proc, the cgroup files and the filesystem each time."""

    def __init__(
        self,
        read: Callable[[], HostCapabilities],
        *,
        max_age_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._max_age_s = max_age_s
        self._clock = clock
        self._kept: tuple[float, HostCapabilities] | None = None

    def __call__(self) -> HostCapabilities:
        now = self._clock()
        if self._kept is None or now - self._kept[0] >= self._max_age_s:
            self._kept = (now, self._read())
        return self._kept[1]


def cpu_cores() -> int:
    """Cores this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, quota)
    return max(1, cores)


def memory_total_mb() -> int:
    """Physical memory in MiB, lowered to this cgroup's limit when there is one."""
    total = _meminfo_total_bytes()
    if total is None:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = _cgroup_memory_limit_bytes()
    if limit is not None:
        total = min(total, limit)
    return total // MIB


def disk_free_mb(path: Path) -> int:
    """Free MiB on the filesystem holding `path` (or its nearest existing parent)."""
    existing = path.resolve()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free // MIB


def _meminfo_total_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024  # the kernel reports kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_cgroup_file(name: str) -> str | None:
    try:
        return (CGROUP_ROOT / name).read_text(encoding="ascii").strip()
    except OSError:
        return None


def _cgroup_cpu_quota() -> int | None:
    # cgroup v2 cpu.max reads "max 100000" (no quota) or "<quota> <period>".
    content = _read_cgroup_file("cpu.max")
    if content is None:
        return None
    parts = content.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        return max(1, math.ceil(int(parts[0]) / int(parts[1])))
    except (ValueError, ZeroDivisionError):
        return None


def _cgroup_memory_limit_bytes() -> int | None:
    content = _read_cgroup_file("memory.max")
    if content is None or content == "max":
        return None
    try:
        return int(content)
    except ValueError:
        return None
