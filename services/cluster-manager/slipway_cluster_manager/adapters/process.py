"""Running a CLI without a shell, streaming its output lines as they arrive.

The child gets its own session (process group), so a timeout or a cancelled job ends the
whole tree the CLI started (minikube runs docker, ssh, kubectl ...), not just the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

LINE_LIMIT = 1024 * 1024
TERMINATE_GRACE_SECONDS = 10.0
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

LineSink = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one finished command."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        """stdout lines, then stderr lines."""
        return [*self.stdout.splitlines(), *self.stderr.splitlines()]


class CommandTimeout(Exception):
    """The command ran past its deadline and was terminated."""

    def __init__(self, argv: Sequence[str], timeout: float, output: str) -> None:
        super().__init__(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} timed out")
        self.argv = tuple(argv)
        self.timeout = timeout
        self.output = output


def clean_line(raw: bytes) -> str:
    """Decode one output line, dropping colour codes and spinner redraws ("\\r")."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    text = _ANSI_ESCAPE.sub("", text)
    return text.rsplit("\r", 1)[-1].rstrip()


async def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    on_line: LineSink | None = None,
    stdin: AsyncIterator[bytes] | None = None,
) -> CommandResult:
    """Run `argv` (no shell) and wait for it, at most `timeout` seconds.

    Every non-blank stdout/stderr line is passed to `on_line` as it arrives. `stdin`, if
    given, is streamed to the command's standard input. Raises `CommandTimeout` on the
    deadline and `OSError` (e.g. FileNotFoundError) when the executable cannot be run.
    """
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
        start_new_session=True,
        limit=LINE_LIMIT,
    )
    stdout_lines: list[str] = []
    stderr_lines: list[str] = []

    async def pump(stream: asyncio.StreamReader | None, sink: list[str]) -> None:
        assert stream is not None
        async for raw in stream:
            line = clean_line(raw)
            sink.append(line)
            if on_line is not None and line.strip():
                await on_line(line)

    async def feed() -> None:
        assert process.stdin is not None and stdin is not None
        try:
            async for chunk in stdin:
                process.stdin.write(chunk)
                await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the command quit early; its exit code and output say why
        finally:
            process.stdin.close()

    tasks = [pump(process.stdout, stdout_lines), pump(process.stderr, stderr_lines)]
    if stdin is not None:
        tasks.append(feed())
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*tasks)
            exit_code = await process.wait()
    except TimeoutError:
        await _terminate(process)
        raise CommandTimeout(argv, timeout, "\n".join(stdout_lines + stderr_lines)) from None
    except BaseException:
        # Cancelled (the job was abandoned) or our own callback failed: leave nothing behind.
        await asyncio.shield(_terminate(process))
        raise
    return CommandResult(
        argv=tuple(argv),
        exit_code=exit_code,
        stdout="\n".join(stdout_lines),
        stderr="\n".join(stderr_lines),
    )


def _signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # start_new_session=True made the child the leader of its own process group.
        os.killpg(process.pid, signum)


async def _terminate(process: asyncio.subprocess.Process) -> None:
    # The whole group, even when the CLI itself already exited: what it started may not.
    log.warning("terminating process group %d", process.pid)
    _signal_group(process, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), TERMINATE_GRACE_SECONDS)
    _signal_group(process, signal.SIGKILL)
    await process.wait()
