"""The fixture every use-case test starts from."""

from __future__ import annotations

import pytest

from tests.unit.workload_manager.fakes import World, new_world


@pytest.fixture
def world() -> World:
    """The use cases on in-memory records and fake ports, nothing recorded yet."""
    return new_world()
