"""Resident memory of each service process (VmRSS in /proc/<pid>/status): read once at
idle, and sampled in the background through every section, keeping each section's peak."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SAMPLE_INTERVAL_S = 0.25


def rss_mb(pid: int) -> float | None:
    """VmRSS of process `pid` in MB (MiB), or None when it is gone or unreadable."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


class MemorySampler:
    """Samples every service's RSS on a thread; `section(name)` labels the samples."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.idle: dict[str, float | None] = {}
        self.end: dict[str, float | None] = {}
        self.peaks: dict[str, dict[str, float]] = {}
        self._label: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def now(self) -> dict[str, float | None]:
        return {name: rss_mb(pid) for name, pid in self.pids.items()}

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            label = self._label
            if label is None:
                continue
            peaks = self.peaks.setdefault(label, {})
            for name, value in self.now().items():
                if value is not None:
                    peaks[name] = max(value, peaks.get(name, 0.0))

    def start(self) -> None:
        self.idle = self.now()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.end = self.now()

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        self._label = name
        try:
            yield
        finally:
            self._label = None

    def under_load(self) -> dict[str, float | None]:
        """Each service's peak over every section."""
        return {
            name: max((p[name] for p in self.peaks.values() if name in p), default=None)
            for name in self.pids
        }

    def summary(self) -> dict[str, Any]:
        return {
            "unit": "MB (MiB) of VmRSS",
            "pids": self.pids,
            "idle": self.idle,
            "under_load_peak": self.under_load(),
            "after_run": self.end,
            "peak_by_section": self.peaks,
            "sample_interval_s": SAMPLE_INTERVAL_S,
        }
