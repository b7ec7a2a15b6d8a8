"""Image-builder settings (`SLIPWAY_*` environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from slipway_image_builder.domain.scan import PolicyMode
from slipway_keys.secrets import SecretKeySettings
from slipway_libs.settings import CommonSettings


class ImageBuilderSettings(CommonSettings, SecretKeySettings):
    database: str = "slipway_image_builder"
    # Comma-separated directories; build contexts must lie inside one of them.
    build_roots: Annotated[list[Path], NoDecode] = Field(default_factory=lambda: [Path("examples")])
    image_size_limit_frontend_mb: float = Field(512, gt=0)
    image_size_limit_backend_mb: float = Field(1024, gt=0)
    build_timeout_s: float = Field(900, gt=0, description="a build still running then fails")
    verify_interval_s: float = Field(30, gt=0)
    # Each build log line is dropped this many days after it was written (a TTL index).
    build_log_retention_days: float = Field(30, gt=0)
    docker_host: str | None = None
    # Trivy's cache directory: its vulnerability database is looked for in `db/` there.
    # Nothing is ever downloaded; without a database, vulnerability scanning is skipped.
    trivy_cache_dir: Path | None = Field(None, description="default: <state dir>/trivy")
    scan_timeout_s: float = Field(600, gt=0, description="a scan still running then fails")
    image_policy: PolicyMode = PolicyMode.WARN
    rescan_interval_s: float = Field(0, ge=0, description="re-scan built images; 0 = never")

    @field_validator("build_roots", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Path(p.strip()) for p in value.split(",") if p.strip()]
        return value
