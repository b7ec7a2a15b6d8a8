"""Image scans: what a scanner reports, the policy rules (non-root, critical findings) and
how a finished scan is summed up. No I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from slipway_contracts.entities import (
    FindingKind,
    ImageScan,
    ScanFinding,
    ScanStatus,
    Severity,
)

# An entity (and each of its events) keeps at most this many findings, most severe first;
# the counts cover them all.
MAX_KEPT_FINDINGS = 200
SEVERITY_ORDER = tuple(Severity)
ROOT_RULE = "non-root-user"


class PolicyMode(StrEnum):
    """What a policy violation does: `warn` records it; `enforce` fails the image."""

    WARN = "warn"
    ENFORCE = "enforce"


@dataclass(frozen=True)
class ScanReport:
    """What a scanner found in one image. `skipped` says, in words, what it could not check
    and why; `sbom` is the CycloneDX JSON document, when one was made."""

    scanners: dict[str, str]
    findings: list[ScanFinding]
    skipped: list[str] = field(default_factory=list)
    sbom: bytes | None = None


def runs_as_root(user: str | None) -> bool:
    """Whether an image config's `User` runs as root: unset, `root` or uid 0 (any group)."""
    name = (user or "").split(":", 1)[0].strip()
    return name in ("", "root", "0")


def root_finding(user: str | None) -> ScanFinding | None:
    """The policy finding of an image that runs as root, or None."""
    if not runs_as_root(user):
        return None
    shown = f"USER {user}" if user else "no USER"
    return ScanFinding(
        kind=FindingKind.POLICY,
        severity=Severity.HIGH,
        rule=ROOT_RULE,
        title=f"the image runs as root ({shown}); set USER to a non-root uid, e.g. USER 65532",
    )


def _rank(finding: ScanFinding) -> tuple[int, str, str]:
    return (SEVERITY_ORDER.index(finding.severity), finding.kind, finding.rule)


def summarize(
    report: ScanReport,
    *,
    scan_id: str,
    requested_at: datetime,
    scanned_at: datetime,
    user: str | None,
    sbom_kept: bool,
) -> ImageScan:
    """The finished scan: the scanner's findings plus the policy's, most severe first, counted
    by severity; `partial` when something could not be checked."""
    findings = list(report.findings)
    if (root := root_finding(user)) is not None:
        findings.append(root)
    findings.sort(key=_rank)
    counts = Counter(finding.severity for finding in findings)
    return ImageScan(
        status=ScanStatus.PARTIAL if report.skipped else ScanStatus.COMPLETE,
        scan_id=scan_id,
        requested_at=requested_at,
        scanned_at=scanned_at,
        scanners=report.scanners,
        counts={severity: counts.get(severity, 0) for severity in SEVERITY_ORDER},
        findings=findings[:MAX_KEPT_FINDINGS],
        findings_omitted=max(0, len(findings) - MAX_KEPT_FINDINGS),
        skipped=report.skipped,
        sbom=sbom_kept,
    )


def describe(finding: ScanFinding) -> str:
    """A finding in a few words, e.g. `secret aws-access-key-id in /app/.env`."""
    where = f" in {finding.file}" if finding.file else ""
    what = f" ({finding.package} {finding.installed_version})" if finding.package else ""
    return f"{finding.kind} {finding.rule}{what}{where}"


def violations(scan: ImageScan) -> list[str]:
    """What the policy refuses in a scan: a root user, and every critical finding (a secret is
    always critical). Only the kept findings are named; a critical one is never omitted, as
    critical findings sort first."""
    return [
        describe(finding)
        for finding in scan.findings
        if finding.kind is FindingKind.POLICY or finding.severity is Severity.CRITICAL
    ]


def refusal(scan: ImageScan) -> str | None:
    """The reason an enforced policy fails the image, or None when it passes."""
    found = violations(scan)
    if not found:
        return None
    return "image policy (enforce) refused the image: " + "; ".join(found)
