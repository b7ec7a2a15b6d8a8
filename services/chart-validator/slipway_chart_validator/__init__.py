"""Slipway chart-validator: validates Helm charts with helm, Kubernetes schemas and policy."""

from .domain import RULES, Finding, RuleConfig, has_errors
from .validation import validate_chart, validate_chart_archive, validate_chart_path

__all__ = [
    "RULES",
    "Finding",
    "RuleConfig",
    "has_errors",
    "validate_chart",
    "validate_chart_archive",
    "validate_chart_path",
]
