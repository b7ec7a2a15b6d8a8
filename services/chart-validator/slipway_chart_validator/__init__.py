"""Slipway chart-validator: validates Helm charts with helm, Kubernetes schemas and policy.

As a library: `validate_chart(local_tools(), chart_dir, ValidationRequest("name"))`.
"""

from .adapters.tools import local_tools
from .domain import RULES, Finding, RuleConfig, has_errors
from .service_layer.pipeline import (
    ValidationRequest,
    validate_chart,
    validate_chart_archive,
    validate_chart_path,
)

__all__ = [
    "RULES",
    "Finding",
    "RuleConfig",
    "ValidationRequest",
    "has_errors",
    "local_tools",
    "validate_chart",
    "validate_chart_archive",
    "validate_chart_path",
]
