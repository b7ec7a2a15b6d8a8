"""Running a tool binary: argv only (never a shell), a clean environment and a deadline."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ToolUnavailable(RuntimeError):
    """The tool binary is missing or cannot be started: an installation problem, not the chart's."""


class ToolTimeout(Exception):
    """The tool did not finish before its deadline (it has been killed)."""

    def __init__(self, tool: str, timeout: float) -> None:
        super().__init__(f"{tool} did not finish within {timeout:g} s")
        self.tool = tool
        self.timeout = timeout


@dataclass(frozen=True)
class ProcessResult:
    returncode: int
    stdout: str
    stderr: str


def find_tool(name: str) -> Path:
    """The binary installed next to the running Python (the venv's wheel), else on PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolUnavailable(f"{name} is not installed next to {sys.executable} nor on PATH")


async def run_tool(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None = None,
) -> ProcessResult:
    """Run `argv` to completion; the process is killed on timeout or cancellation."""
    try:
        process = await asyncio.create_subprocess_exec(
            *(str(arg) for arg in argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
        )
    except OSError as exc:
        raise ToolUnavailable(f"cannot start {argv[0]}: {exc}") from exc
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        raise ToolTimeout(Path(str(argv[0])).name, timeout) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return ProcessResult(
        returncode=process.returncode if process.returncode is not None else -1,
        stdout=stdout.decode("utf-8", errors="replace"),
        stderr=stderr.decode("utf-8", errors="replace"),
    )
