"""Running a command-line tool: argv only (never a shell), the environment the caller
chooses, a deadline, its output streamed line by line. The tool gets a process group of its
own, so a timeout or a cancelled job ends all it started (minikube runs docker, ssh, ...)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway_observability import tracing

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
# A "line" longer than this is handed to the line callback in pieces.
LINE_LIMIT = 1024 * 1024
TERMINATE_GRACE_S = 10.0
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class ToolUnavailable(RuntimeError):
    """The tool cannot be started (an installation problem); `error`: the OS's reason, if any."""

    def __init__(self, message: str, error: OSError | None = None) -> None:
        super().__init__(message)
        self.error = error


class ToolTimeout(Exception):
    """The tool ran past its deadline; it and everything it started have been stopped."""

    def __init__(self, argv: Sequence[str], timeout: float, output: str) -> None:
        super().__init__(f"{Path(argv[0]).name} did not finish within {timeout:g} s")
        self.timeout = timeout
        self.output = output


@dataclass(frozen=True)
class ProcessResult:
    """The outcome of one finished run: the exit code and the exact output."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        """stdout lines, then stderr lines, as a terminal would show them (see clean_line)."""
        return [*output_lines(self.stdout), *output_lines(self.stderr)]


def clean_line(text: str) -> str:
    """One output line without colour codes, spinner redraws ("\\r") or trailing blanks."""
    text = _ANSI_ESCAPE.sub("", text.rstrip("\r\n"))
    return text.rsplit("\r", 1)[-1].rstrip()


def output_lines(text: str) -> list[str]:
    """The cleaned lines of a tool's output."""
    if not text:
        return []
    return [clean_line(line) for line in text.removesuffix("\n").split("\n")]


def find_tool(name: str) -> Path:
    """The binary installed next to the running Python (the venv's wheel), else on PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file():
        return beside_python
    if found := shutil.which(name):
        return Path(found)
    raise ToolUnavailable(f"{name} is not installed next to {sys.executable} nor on PATH")


class CommandLineTool:
    """A CLI (found by `find_tool` unless `binary` is given) run `max_concurrency` at a time."""

    def __init__(
        self, name: str, binary: Path | None = None, max_concurrency: int | None = None
    ) -> None:
        self.name = name
        self._binary = binary
        self._slots: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Semaphore(max_concurrency) if max_concurrency else contextlib.nullcontext()
        )

    @property
    def binary(self) -> Path:
        if self._binary is None:
            self._binary = find_tool(self.name)
        return self._binary

    async def run(
        self, args: Sequence[str | Path], *, env: Mapping[str, str], timeout: float
    ) -> ProcessResult:
        """`run_tool` of the binary with `args`, waiting for a free slot first."""
        async with self._slots:
            with tracing.span(f"{self.name} {args[0] if args else ''}".strip()):
                return await run_tool([self.binary, *args], env=env, timeout=timeout)


async def run_tool(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str],
    timeout: float,
    cwd: Path | None = None,
    on_line: Callable[[str], Awaitable[None]] | None = None,
    stdin: AsyncIterator[bytes] | None = None,
) -> ProcessResult:
    """Run `argv` (no shell) with exactly `env`, streaming `stdin` in and each non-blank output
    line to `on_line`; past `timeout` seconds, ToolTimeout. A timeout, cancellation or failing
    `on_line` ends its whole process group. ToolUnavailable when it cannot be started."""
    args = [str(arg) for arg in argv]
    try:
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise ToolUnavailable(f"cannot start {args[0]}: {exc}", exc) from exc
    stdout: list[bytes] = []
    stderr: list[bytes] = []

    async def emit(raw: bytes) -> None:
        line = clean_line(raw.decode("utf-8", errors="replace"))
        if on_line is not None and line.strip():
            await on_line(line)

    async def pump(stream: asyncio.StreamReader | None, sink: list[bytes]) -> None:
        assert stream is not None
        pending = b""
        while chunk := await stream.read(READ_SIZE):
            sink.append(chunk)
            if on_line is None:
                continue
            *complete, pending = (pending + chunk).split(b"\n")
            if len(pending) > LINE_LIMIT:
                complete.append(pending)
                pending = b""
            for raw in complete:
                await emit(raw)
        if pending:
            await emit(pending)

    async def feed() -> None:
        assert process.stdin is not None and stdin is not None
        try:
            async for chunk in stdin:
                process.stdin.write(chunk)
                await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the tool quit early; its exit code and output say why
        finally:
            process.stdin.close()

    tasks = [pump(process.stdout, stdout), pump(process.stderr, stderr)]
    if stdin is not None:
        tasks.append(feed())
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*tasks)
            exit_code = await process.wait()
    except TimeoutError:
        await _terminate(process)
        output = "\n".join([*output_lines(_text(stdout)), *output_lines(_text(stderr))])
        raise ToolTimeout(args, timeout, output) from None
    except BaseException:
        # Cancelled (the job was abandoned) or the line callback failed: leave nothing behind.
        await asyncio.shield(_terminate(process))
        raise
    return ProcessResult(tuple(args), exit_code, _text(stdout), _text(stderr))


def _text(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", errors="replace")


async def _terminate(process: asyncio.subprocess.Process) -> None:
    # The whole group (start_new_session=True made the child its leader), even when the tool
    # itself already exited: what it started may not have.
    log.warning("terminating process group %d", process.pid)
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), TERMINATE_GRACE_S)
