"""Gateway settings (`SLIPWAY_*` environment variables)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from slipway_libs.settings import CommonSettings


class GatewaySettings(CommonSettings):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    request_timeout_s: float = Field(10.0, gt=0)
    retry_after_s: int = Field(5, ge=1)
    # A larger request body is refused with 413 before it is read whole. The largest body
    # the API takes is a chart: a 4 MiB .tgz is ~5.6 MB once base64-encoded in JSON.
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1)
    # Services whose health /readyz requires (comma-separated).
    ready_services: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "image-builder",
            "chart-validator",
            "cluster-manager",
            "workload-manager",
        ]
    )

    @field_validator("ready_services", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value
