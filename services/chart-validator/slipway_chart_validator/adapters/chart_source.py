"""Charts given as a directory: confined to the configured chart roots."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import yaml

from ..domain.ports import UnsafeChartPath
from .archive import extract_chart_archive

_MAX_CHART_YAML_BYTES = 1024 * 1024


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _check_links(chart_dir: Path, roots: Sequence[Path]) -> None:
    # helm follows symlinks, so a link out of the roots would let a template read any file
    # (for instance through .Files.Get) and leak it into findings.
    seen: set[Path] = set()
    for current, dirs, files in os.walk(chart_dir, followlinks=True):
        real = Path(current).resolve()
        if real in seen:
            dirs.clear()  # a link cycle: this tree was already checked
            continue
        seen.add(real)
        for name in [*dirs, *files]:
            entry = Path(current) / name
            if not entry.is_symlink():
                continue
            relative = entry.relative_to(chart_dir)
            try:
                target = entry.resolve()
            except (RuntimeError, OSError) as exc:
                raise UnsafeChartPath(
                    "symlink-loop", f"{relative} in the chart is a link loop"
                ) from exc
            if not _inside(target, roots):
                raise UnsafeChartPath(
                    "symlink-escape",
                    f"{relative} in the chart is a link to {os.readlink(entry)!r}, "
                    "outside the chart roots",
                )


def resolve_chart_dir(path: str, roots: Sequence[Path]) -> Path:
    """The real chart directory for `path`, which must lie inside one of `roots`.

    A relative path is looked up in each root in turn (the first that has it; none: the
    first root), as `slipway_libs.paths.resolve_inside_roots` does. Symlinks are resolved before the
    check, and links inside the chart must not point outside the roots either.
    """
    if not roots:
        raise UnsafeChartPath("no-roots", "no chart roots are configured")
    real_roots = [Path(root).resolve() for root in roots]
    candidate = Path(path)
    if not candidate.is_absolute():
        found = [root / candidate for root in real_roots if (root / candidate).exists()]
        candidate = found[0] if found else real_roots[0] / candidate
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, RuntimeError) as exc:
        raise UnsafeChartPath("not-found", f"chart path {path!r} does not exist") from exc
    if not _inside(real, real_roots):
        allowed = ", ".join(str(root) for root in real_roots)
        raise UnsafeChartPath(
            "outside-roots", f"chart path {path!r} is outside the chart roots ({allowed})"
        )
    if not real.is_dir():
        raise UnsafeChartPath("not-a-directory", f"chart path {path!r} is not a directory")
    _check_links(real, real_roots)
    return real


def read_chart_yaml(chart_dir: Path) -> str | None:
    """The text of `Chart.yaml`, or None when there is none."""
    chart_file = chart_dir / "Chart.yaml"
    if not chart_file.is_file():
        return None
    return chart_file.read_text(encoding="utf-8", errors="replace")


def _name_of(chart_yaml: bytes | str | None) -> str | None:
    try:
        data = yaml.safe_load(chart_yaml) if chart_yaml else None
    except yaml.YAMLError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else None


def _packaged_chart_name(archive_path: Path) -> str | None:
    try:
        with tarfile.open(archive_path, mode="r:gz") as archive:
            for member in archive:
                parts = PurePosixPath(member.name).parts
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
                    if member.size > _MAX_CHART_YAML_BYTES:
                        return None
                    content = archive.extractfile(member)
                    return _name_of(content.read()) if content else None
    except (tarfile.TarError, OSError, EOFError):
        return None
    return None


def vendored_chart_names(chart_dir: Path) -> set[str]:
    """Names (from their Chart.yaml) of the subcharts present under `charts/`."""
    names: set[str] = set()
    charts = chart_dir / "charts"
    if not charts.is_dir():
        return names
    for entry in sorted(charts.iterdir()):
        if entry.is_dir():
            name = _name_of(read_chart_yaml(entry))
        elif entry.suffix == ".tgz" and entry.is_file():
            name = _packaged_chart_name(entry)
        else:
            name = None
        if name:
            names.add(name)
    return names


class LocalChartSource:
    """Chart files on this machine: directories inside `roots`, and uploaded archives
    unpacked to at most `unpacked_max_bytes` (implements `domain.ports.ChartSource`)."""

    def __init__(self, roots: Sequence[Path], unpacked_max_bytes: int) -> None:
        self.roots = list(roots)
        self.unpacked_max_bytes = unpacked_max_bytes

    def resolve(self, path: str) -> Path:
        return resolve_chart_dir(path, self.roots)

    def unpack(self, data: bytes, into: Path) -> Path:
        return extract_chart_archive(data, into, self.unpacked_max_bytes)

    def chart_yaml(self, chart_dir: Path) -> str | None:
        return read_chart_yaml(chart_dir)

    def vendored_charts(self, chart_dir: Path) -> set[str]:
        return vendored_chart_names(chart_dir)
