"""Chart-validator settings (`SLIPWAY_*` environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from slipway_chart_validator.domain.rules import RuleConfig
from slipway_libs.settings import CommonSettings

MIB = 1024 * 1024


class ChartValidatorSettings(CommonSettings):
    database: str = "slipway_chart_validator"
    # Comma-separated directories; a chart `source.path` must lie inside one of them.
    chart_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path("examples/charts"), Path("charts")]
    )
    archive_max_bytes: int = Field(4 * MIB, gt=0, description="largest uploaded .tgz")
    unpacked_max_bytes: int = Field(50 * MIB, gt=0, description="largest unpacked chart")
    # An archive is stored before its chart record commits; one no chart refers to after
    # this long (a failed or crashed command, a replaced or deleted chart) is removed.
    archive_orphan_grace_s: float = Field(
        600, gt=0, description="age after which an unreferenced archive is removed"
    )
    archive_sweep_interval_s: float = Field(
        60, gt=0, description="how often unreferenced archives are looked for"
    )
    # e.g. `policy.liveness-probe=warning,policy.image-tag=off`
    rules: str = ""
    helm_concurrency: int = Field(4, ge=1, description="helm processes run at once")
    validation_timeout_s: float = Field(
        300, gt=0, description="a validation still running then fails"
    )

    @field_validator("chart_roots", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Path(p.strip()) for p in value.split(",") if p.strip()]
        return value

    @field_validator("rules")
    @classmethod
    def _rules(cls, value: str) -> str:
        RuleConfig.parse(value)  # refuse a bad rule setting at start-up, not per chart
        return value

    @property
    def rule_config(self) -> RuleConfig:
        return RuleConfig.parse(self.rules)
