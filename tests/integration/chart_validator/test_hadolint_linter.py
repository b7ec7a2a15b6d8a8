"""Dockerfile linting with the real hadolint binary."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway_chart_validator.adapters.hadolint import lint_dockerfile

pytestmark = pytest.mark.asyncio


async def test_findings_carry_the_hadolint_code_and_line(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM python:latest\nUSER root\nCMD ["python"]\n')
    findings = await lint_dockerfile(dockerfile)
    by_rule = {f.rule: f for f in findings}
    assert by_rule["hadolint.DL3007"].severity == "warning"
    assert by_rule["hadolint.DL3007"].message.startswith("line 1: ")
    assert by_rule["hadolint.DL3002"].message.startswith("line 2: ")
    assert all(f.file == "Dockerfile" for f in findings)


async def test_a_clean_dockerfile_has_no_findings(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM python:3.12-slim\nUSER 10001\nCMD ["python", "-V"]\n')
    assert await lint_dockerfile(dockerfile) == []


async def test_shell_errors_are_errors(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.12-slim\nRUN {{{ bad\n")
    findings = await lint_dockerfile(dockerfile)
    assert [f.severity for f in findings if f.rule.startswith("hadolint.SC")] == ["error"]


async def test_a_config_file_in_the_build_context_cannot_silence_rules(tmp_path: Path) -> None:
    (tmp_path / ".hadolint.yaml").write_text("ignored:\n  - DL3007\n")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM python:latest\nUSER 10001\nCMD ["python"]\n')
    assert "hadolint.DL3007" in {f.rule for f in await lint_dockerfile(dockerfile)}


async def test_a_missing_dockerfile_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await lint_dockerfile(tmp_path / "Dockerfile")
