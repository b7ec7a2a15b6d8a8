"""Pure chart-validation rules: findings, rule settings, Chart.yaml checks and policy."""

from .findings import Finding, Severity, has_errors, sort_findings
from .rules import MANDATORY_RULES, RULES, Level, RuleConfig

__all__ = [
    "MANDATORY_RULES",
    "RULES",
    "Finding",
    "Level",
    "RuleConfig",
    "Severity",
    "has_errors",
    "sort_findings",
]
