"""The host's real capabilities are read, within what this process may use."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from slipway_cluster_manager.adapters.host import RecentHostCapabilities, read_host_capabilities
from slipway_cluster_manager.domain.capabilities import HostCapabilities


def test_the_host_reports_plausible_capabilities(tmp_path: Path) -> None:
    host = read_host_capabilities(tmp_path, memory_reserve_mb=512)

    assert 1 <= host.cpu_cores <= (os.cpu_count() or 1)
    assert host.memory_total_mb > 0
    assert host.memory_reserve_mb == 512
    free_mb = shutil.disk_usage(tmp_path).free // (1024 * 1024)
    assert abs(host.disk_free_mb - free_mb) < 1024  # other processes write meanwhile


def test_a_state_dir_that_does_not_exist_yet_uses_its_filesystem(tmp_path: Path) -> None:
    host = read_host_capabilities(tmp_path / "not" / "yet" / "created")

    assert host.disk_free_mb > 0


def test_the_capabilities_are_read_again_only_once_they_are_old() -> None:
    now = [100.0]
    reads: list[HostCapabilities] = []

    def read() -> HostCapabilities:
        reads.append(HostCapabilities(2, 4096, 1024, 10_000 - len(reads)))
        return reads[-1]

    host = RecentHostCapabilities(read, max_age_s=5.0, clock=lambda: now[0])
    first = host()
    now[0] += 4.9
    assert host() is first  # a burst of creates reads the host once
    now[0] += 0.1
    assert host().disk_free_mb == 9_999  # five seconds on, free disk is read again
    assert len(reads) == 2
