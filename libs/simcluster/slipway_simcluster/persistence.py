"""The simulated cluster's state file: a JSON snapshot written atomically, debounced."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old or the new content, never a torn one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_snapshot(path: Path) -> dict[str, Any] | None:
    """The saved snapshot, or None if there is none yet."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a simulated cluster snapshot")
    return data


# A snapshot is the whole state: with thousands of objects it is megabytes to encode and
# write. Saves are spaced so that they take at most this share of the time,
# but never more than MAX_SPACING_S apart while changes keep coming.
SAVE_SHARE = 0.05
MAX_SPACING_S = 5.0


class SnapshotWriter:
    """Saves the snapshot `serialize()` returns (JSON bytes) `debounce` seconds after a
    change, or later when the state is large: saving never takes more than a twentieth of
    the time."""

    def __init__(self, path: Path, serialize: Callable[[], bytes], debounce: float = 0.25) -> None:
        self._path = path
        self._serialize = serialize
        self._debounce = debounce
        self._timer: asyncio.TimerHandle | None = None
        # One writer thread keeps writes in order and the event loop free of fsync.
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="simulated-cluster-state"
        )
        self._closed = False
        self._last_cost_s = 0.0

    @property
    def spacing_s(self) -> float:
        """How long after a change the next save comes."""
        return max(self._debounce, min(MAX_SPACING_S, self._last_cost_s / SAVE_SHARE))

    def mark_dirty(self) -> None:
        """Note a change; a save follows within `spacing_s` seconds."""
        if self._timer is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self.spacing_s, self._flush)

    def _flush(self) -> None:
        self._timer = None
        began = time.perf_counter()
        data = self._serialize()
        encoded = time.perf_counter() - began
        self._last_cost_s = encoded
        future = self._executor.submit(self._write, data, encoded)
        future.add_done_callback(self._report)

    def _write(self, data: bytes, encoded: float) -> None:
        """Write the file (in the writer thread); its cost counts with the encoding's, so
        that a large state is written less often (the file is rewritten whole each time)."""
        began = time.perf_counter()
        write_atomically(self._path, data)
        self._last_cost_s = encoded + time.perf_counter() - began

    def _report(self, future: Any) -> None:
        error = future.exception()
        if error is not None:
            log.error("simulated cluster: saving state to %s failed: %s", self._path, error)

    def close(self) -> None:
        """Save now (synchronously) and stop; used on shutdown."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closed = True
        self._executor.shutdown(wait=True)
        write_atomically(self._path, self._serialize())
