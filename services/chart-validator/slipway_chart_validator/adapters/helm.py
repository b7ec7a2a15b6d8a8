"""The real `helm` CLI, run offline in a throw-away home: `helm lint --strict`, `helm template`."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from slipway_libs.process import CommandLineTool, ProcessResult, ToolTimeout

from ..domain.findings import Finding, Severity
from ..domain.ports import RenderResult

DEFAULT_TIMEOUT = 60.0
# Any request helm might attempt goes to a closed loopback port and fails at once.
_DEAD_PROXY = "http://127.0.0.1:9"

_LINT_LINE = re.compile(r"^\[(?P<level>ERROR|WARNING|INFO)\]\s?(?P<text>.*)$")
_LINT_SUMMARY = re.compile(r"^\d+ chart\(s\) linted")
_LINT_SEVERITIES: dict[str, Severity] = {"ERROR": "error", "WARNING": "warning"}
_LINT_SOURCE = re.compile(r"^(?P<file>[^\s:]+):\s+(?P<message>.*)$", re.DOTALL)
_TEMPLATE_SOURCE = re.compile(r"\b[^\s/():]+/(?P<file>templates/[^\s:()]+?):\d+")


def _isolated_env(home: Path) -> dict[str, str]:
    # Nothing of the service's own environment leaks in: no kubeconfig, no repositories,
    # no plugins, no registry credentials.
    env = {
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(home / "kubeconfig"),
        "TMPDIR": str(home / "tmp"),
        "PATH": "/usr/bin:/bin",
        "HTTP_PROXY": _DEAD_PROXY,
        "HTTPS_PROXY": _DEAD_PROXY,
        "NO_PROXY": "",
    }
    for key in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME", "TMPDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    return env


_OFFLINE_HINT = " (validation runs offline: the chart must not need anything from the network)"


def _explain_offline(text: str) -> str:
    return text + _OFFLINE_HINT if "proxyconnect" in text else text


def _helm_error_text(result: ProcessResult) -> str:
    lines = [
        line.removeprefix("Error: ")
        for line in result.stderr.strip().splitlines()
        if line.strip() and "--debug flag" not in line
    ]
    return _explain_offline("\n".join(lines) or f"helm exited with status {result.exit_code}")


def parse_lint_output(output: str) -> list[Finding]:
    """[ERROR] and [WARNING] lines of `helm lint` (continuation lines included)."""
    entries: list[tuple[str, list[str]]] = []
    for line in output.splitlines():
        if match := _LINT_LINE.match(line):
            entries.append((match["level"], [match["text"]]))
        elif _LINT_SUMMARY.match(line):
            break
        elif entries and line.strip() and not line.startswith("==>"):
            entries[-1][1].append(line)
    findings = []
    for level, lines in entries:
        severity = _LINT_SEVERITIES.get(level)
        if severity is None:
            continue
        text = "\n".join(lines).strip()
        source = _LINT_SOURCE.match(text)
        file = source["file"] if source else None
        message = source["message"] if source else text
        if file and file.endswith("/") and (template := _TEMPLATE_SOURCE.search(message)):
            file = template["file"]  # "templates/" names the folder; the message names the file
        findings.append(Finding(severity, "helm.lint", _explain_offline(message), file=file))
    return findings


class Helm:
    """Runs helm without network access, each call in its own temporary home (implements
    `domain.ports.HelmRunner`).

    `max_concurrency` bounds how many helm processes this instance runs at once.
    """

    def __init__(
        self,
        binary: Path | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrency: int | None = None,
    ) -> None:
        self.tool = CommandLineTool("helm", binary, max_concurrency)
        self.timeout = timeout

    @property
    def binary(self) -> Path:
        return self.tool.binary

    async def _run(self, *args: str | Path) -> ProcessResult:
        with tempfile.TemporaryDirectory(prefix="slipway-helm-") as home:
            return await self.tool.run(args, env=_isolated_env(Path(home)), timeout=self.timeout)

    async def lint(
        self, chart_dir: Path, values_file: Path, kube_version: str | None
    ) -> list[Finding]:
        """Findings of `helm lint --strict` with the given values."""
        args: list[str | Path] = ["lint", "--strict", chart_dir, "--values", values_file]
        if kube_version:
            args += ["--kube-version", kube_version]
        try:
            result = await self._run(*args)
        except ToolTimeout as exc:
            return [Finding("error", "helm.lint", str(exc))]
        findings = parse_lint_output(result.stdout)
        if result.exit_code != 0 and not any(f.is_error for f in findings):
            findings.append(Finding("error", "helm.lint", _helm_error_text(result)))
        return findings

    async def template(
        self,
        chart_dir: Path,
        release_name: str,
        values_file: Path,
        kube_version: str | None,
    ) -> RenderResult:
        """Render the chart as `helm template` would for an install of `release_name`."""
        args: list[str | Path] = [
            "template",
            release_name,
            chart_dir,
            "--values",
            values_file,
            "--include-crds",
        ]
        if kube_version:
            args += ["--kube-version", kube_version]
        try:
            result = await self._run(*args)
        except ToolTimeout as exc:
            return RenderResult(None, Finding("error", "helm.template", str(exc)))
        if result.exit_code != 0:
            text = _helm_error_text(result)
            source = _TEMPLATE_SOURCE.search(text)
            error = Finding(
                "error",
                "helm.template",
                f"helm template failed: {text}",
                file=source["file"] if source else None,
            )
            return RenderResult(None, error)
        return RenderResult(result.stdout, None)
