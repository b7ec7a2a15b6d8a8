"""I/O of the chart validator: helm, kubernetes-validate, hadolint, archives, paths, MongoDB."""

from slipway_libs.process import ToolTimeout, ToolUnavailable

from ..domain.ports import UnsafeArchive, UnsafeChartPath
from .archive import extract_chart_archive
from .chart_source import LocalChartSource, resolve_chart_dir
from .hadolint import LinterFailed, lint_dockerfile
from .helm import Helm
from .schema import KubernetesSchemas, supported_versions
from .tools import local_tools

__all__ = [
    "Helm",
    "KubernetesSchemas",
    "LinterFailed",
    "LocalChartSource",
    "ToolTimeout",
    "ToolUnavailable",
    "UnsafeArchive",
    "UnsafeChartPath",
    "extract_chart_archive",
    "lint_dockerfile",
    "local_tools",
    "resolve_chart_dir",
    "supported_versions",
]
