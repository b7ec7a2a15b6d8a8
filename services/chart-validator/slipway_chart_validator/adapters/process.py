"""Moved to `slipway_libs.process`. Only `service.py` still imports from here (its owner is
changing that import); delete this module once nothing does."""

from slipway_libs.process import ToolTimeout, ToolUnavailable

__all__ = ["ToolTimeout", "ToolUnavailable"]
