"""The dashboard's files as shipped: every one is package data of the gateway (so an
install carries it), each module it imports is there, and none names another host."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "services" / "gateway"
UI = GATEWAY / "slipway_gateway" / "ui"
IMPORT = re.compile(r"""(?:import|from)\s*(?:[^'"]*?from\s*)?["'](\.[^"']+)["']""")
SOURCE = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def shipped_patterns() -> list[str]:
    pyproject = tomllib.loads((GATEWAY / "pyproject.toml").read_text())
    patterns: list[str] = pyproject["tool"]["setuptools"]["package-data"]["slipway_gateway"]
    return patterns


def test_every_dashboard_file_is_package_data_of_the_gateway():
    files = sorted(p.relative_to(UI.parent).as_posix() for p in UI.rglob("*") if p.is_file())
    patterns = shipped_patterns()

    assert "ui/index.html" in files and "ui/app.js" in files
    assert [f for f in files if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []


def test_every_module_the_dashboard_imports_is_there():
    for module in UI.glob("*.js"):
        for specifier in IMPORT.findall(module.read_text()):
            assert (UI / specifier).resolve().is_file(), f"{module.name} imports {specifier}"


def test_the_page_loads_only_its_own_files():
    page = (UI / "index.html").read_text()
    for url in SOURCE.findall(page):
        assert url.startswith(("/", "#")) and not url.startswith("//"), url
        if url.startswith("/ui/"):
            assert (UI / url.removeprefix("/ui/")).is_file(), url
    for path in UI.rglob("*"):
        if path.suffix in (".js", ".css", ".html"):  # (an SVG names its XML namespace)
            assert not re.search(r"https?://", path.read_text()), path.name
