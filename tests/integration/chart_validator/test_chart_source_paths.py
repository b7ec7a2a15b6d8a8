"""Chart directories given by path: confined to the chart roots, symlinks included."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from slipway_chart_validator import ValidationRequest, local_tools, validate_chart_path
from slipway_chart_validator.adapters.chart_source import UnsafeChartPath, resolve_chart_dir

FIXTURE_CHARTS = Path(__file__).resolve().parents[2] / "fixtures" / "charts"


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    first, second = tmp_path / "charts-a", tmp_path / "charts-b"
    shutil.copytree(FIXTURE_CHARTS / "good", first / "good")
    shutil.copytree(FIXTURE_CHARTS / "bad-schema", second / "bad-schema")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("top secret\n")
    return [first, second]


def refused(path: str, roots: list[Path]) -> UnsafeChartPath:
    with pytest.raises(UnsafeChartPath) as error:
        resolve_chart_dir(path, roots)
    assert isinstance(error.value, ValueError)
    return error.value


def test_relative_paths_resolve_against_the_first_root(roots: list[Path]) -> None:
    assert resolve_chart_dir("good", roots) == (roots[0] / "good").resolve()


def test_absolute_paths_inside_any_root(roots: list[Path]) -> None:
    chart = roots[1] / "bad-schema"
    assert resolve_chart_dir(str(chart), roots) == chart.resolve()


@pytest.mark.parametrize("path", ["../outside", "good/../../outside", "/etc"])
def test_paths_outside_the_roots_are_refused(roots: list[Path], path: str) -> None:
    error = refused(path, roots)
    assert error.rule == "outside-roots"
    assert path in str(error)


def test_a_symlink_leading_out_of_the_roots_is_resolved_first(
    roots: list[Path], tmp_path: Path
) -> None:
    (roots[0] / "sneaky").symlink_to(tmp_path / "outside")
    assert refused("sneaky", roots).rule == "outside-roots"


def test_a_link_inside_the_chart_to_a_file_outside_is_refused(
    roots: list[Path], tmp_path: Path
) -> None:
    chart = roots[0] / "good"
    (chart / "files").mkdir()
    (chart / "files" / "config.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    error = refused("good", roots)
    assert error.rule == "symlink-escape"
    assert "files/config.txt" in str(error)


def test_links_that_stay_inside_the_roots_are_fine(roots: list[Path]) -> None:
    chart = roots[0] / "good"
    (chart / "shared.yaml").symlink_to(chart / "values.yaml")
    (chart / "other-root").symlink_to(roots[1], target_is_directory=True)
    (chart / "loop").symlink_to(chart, target_is_directory=True)
    assert resolve_chart_dir("good", roots) == chart.resolve()


@pytest.mark.parametrize(
    ("path", "rule"), [("missing", "not-found"), ("good/values.yaml", "not-a-directory")]
)
def test_missing_and_non_directories(roots: list[Path], path: str, rule: str) -> None:
    assert refused(path, roots).rule == rule


def test_no_roots_configured() -> None:
    assert refused(os.getcwd(), []).rule == "no-roots"


@pytest.mark.asyncio
async def test_validate_by_path(roots: list[Path]) -> None:
    tools = local_tools(roots)
    good = await validate_chart_path(tools, "good", ValidationRequest(expected_name="good"))
    assert [f for f in good if f.severity == "error"] == []
    outside = await validate_chart_path(tools, "../outside", ValidationRequest(expected_name="x"))
    assert [(f.rule, f.severity) for f in outside] == [("chart.source", "error")]
