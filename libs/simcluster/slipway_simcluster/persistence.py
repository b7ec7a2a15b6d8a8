"""The simulated cluster's state file: a JSON snapshot written atomically, debounced."""

from __future__ import annotations

import asyncio
import json
import logging
import os
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


class SnapshotWriter:
    """Saves the snapshot `collect()` returns at most `debounce` seconds after a change."""

    def __init__(
        self, path: Path, collect: Callable[[], dict[str, Any]], debounce: float = 0.25
    ) -> None:
        self._path = path
        self._collect = collect
        self._debounce = debounce
        self._timer: asyncio.TimerHandle | None = None
        # One writer thread keeps writes in order and the event loop free of fsync.
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="simulated-cluster-state"
        )
        self._closed = False

    def mark_dirty(self) -> None:
        """Note a change; a save follows within `debounce` seconds."""
        if self._timer is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self._debounce, self._flush)

    def _flush(self) -> None:
        self._timer = None
        data = self._serialize()
        future = self._executor.submit(write_atomically, self._path, data)
        future.add_done_callback(self._report)

    def _serialize(self) -> bytes:
        return json.dumps(self._collect(), separators=(",", ":")).encode()

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
