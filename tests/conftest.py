"""Fixtures shared by the tiers. The stack fixtures start real servers on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.stack import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One whole Slipway stack shared by the non-destructive tests of a session."""
    base = tmp_path_factory.mktemp("stack")
    running = Stack(state_dir=base / "state", build_root=base / "builds").start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        yield client
