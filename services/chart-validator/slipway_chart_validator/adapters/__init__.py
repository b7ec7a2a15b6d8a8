"""I/O of the chart validator: helm, kubernetes-validate, hadolint, archives and paths."""

from slipway_libs.process import ToolTimeout, ToolUnavailable

from .archive import UnsafeArchive, extract_chart_archive
from .chart_source import UnsafeChartPath, resolve_chart_dir
from .hadolint import LinterFailed, lint_dockerfile
from .helm import Helm
from .schema import supported_versions

__all__ = [
    "Helm",
    "LinterFailed",
    "ToolTimeout",
    "ToolUnavailable",
    "UnsafeArchive",
    "UnsafeChartPath",
    "extract_chart_archive",
    "lint_dockerfile",
    "resolve_chart_dir",
    "supported_versions",
]
