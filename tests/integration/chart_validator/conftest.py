"""Shared paths for the chart-validator integration tests (real helm, real schemas)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURE_CHARTS = Path(__file__).resolve().parents[2] / "fixtures" / "charts"


@pytest.fixture
def chart_copy(tmp_path: Path):
    """Copy a fixture chart into tmp_path so a test may change it."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(FIXTURE_CHARTS / name, target)
        return target

    return copy
