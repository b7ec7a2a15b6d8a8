"""The shared tool runner with real child processes: output, deadlines, cancellation."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from slipway_libs.process import ToolTimeout, ToolUnavailable, run_tool
from tests.helpers import live_processes
from tests.waiting import eventually

pytestmark = pytest.mark.asyncio

SH = "/bin/sh"


def marked_env() -> tuple[dict[str, str], bytes]:
    """An environment whose marker finds every process of one run through /proc."""
    marker = f"SLIPWAY_TEST_RUN={uuid.uuid4().hex}"
    name, value = marker.split("=")
    return {"PATH": "/usr/bin:/bin", name: value}, marker.encode()


# A tool that starts a child of its own, as minikube starts docker or ssh.
TREE = "sleep 300 & echo started; sleep 300"


async def test_output_is_streamed_line_by_line_and_kept_exactly() -> None:
    seen: list[str] = []

    async def on_line(line: str) -> None:
        seen.append(line)

    result = await run_tool(
        [SH, "-c", r"printf 'kind: ConfigMap  \n\n'; printf '\033[1mbold\033[0m\n' >&2; exit 3"],
        env={"PATH": "/usr/bin:/bin"},
        timeout=10,
        on_line=on_line,
    )

    assert seen == ["kind: ConfigMap", "bold"]
    assert result.exit_code == 3
    assert result.stdout == "kind: ConfigMap  \n\n"
    assert result.lines == ["kind: ConfigMap", "", "bold"]


async def test_a_tool_past_its_deadline_is_stopped_with_everything_it_started() -> None:
    env, marker = marked_env()

    with pytest.raises(ToolTimeout) as timeout:
        await run_tool([SH, "-c", TREE], env=env, timeout=1.0)

    assert str(timeout.value) == "sh did not finish within 1 s"
    assert timeout.value.output == "started"
    await eventually(lambda: not live_processes(marker), what="the processes to end")


async def test_a_cancelled_run_leaves_no_process_behind() -> None:
    env, marker = marked_env()
    started = asyncio.Event()

    async def on_line(line: str) -> None:
        started.set()

    run = asyncio.create_task(run_tool([SH, "-c", TREE], env=env, timeout=60, on_line=on_line))
    await asyncio.wait_for(started.wait(), 10)
    assert len(live_processes(marker)) >= 2  # the shell and its background child

    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    await eventually(lambda: not live_processes(marker), what="the processes to end")


async def test_a_missing_tool_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ToolUnavailable) as missing:
        await run_tool([tmp_path / "no-such-tool"], env={}, timeout=5)

    assert isinstance(missing.value.error, FileNotFoundError)
    assert str(missing.value).startswith(f"cannot start {tmp_path / 'no-such-tool'}")


async def test_the_tool_sees_only_the_environment_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLIPWAY_SECRET_FOR_TEST", "leaked")

    result = await run_tool(["/usr/bin/env"], env={"ONLY": "this"}, timeout=5)

    assert result.stdout == "ONLY=this\n"
