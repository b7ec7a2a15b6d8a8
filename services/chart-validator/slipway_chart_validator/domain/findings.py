"""What a validation step reports: one `Finding` per problem, in a stable order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a chart.

    `file` is relative to the chart root (`Chart.yaml`, `templates/deployment.yaml`),
    `resource` is `Kind/name` of a rendered object and `path` the field inside it
    (`spec.template.spec.containers[0].image`).
    """

    severity: Severity
    rule: str
    message: str
    file: str | None = None
    resource: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            severity=data["severity"],
            rule=data["rule"],
            message=data["message"],
            file=data.get("file"),
            resource=data.get("resource"),
            path=data.get("path"),
        )

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


def _sort_key(finding: Finding) -> tuple[int, str, str, str, str, str]:
    # Errors first (they decide validity), then grouped by where they point.
    return (
        SEVERITIES.index(finding.severity),
        finding.file or "",
        finding.resource or "",
        finding.path or "",
        finding.rule,
        finding.message,
    )


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Deterministic order, so that the same chart always yields the same list."""
    return sorted(set(findings), key=_sort_key)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.is_error for f in findings)
