"""Gateway settings (`SLIPWAY_*` environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from slipway_keys.secrets import SecretKeySettings
from slipway_libs.settings import CommonSettings

MetricsAccess = Literal["loopback", "open", "token"]
# What an MCP client's change tools do: nothing (`read-only`: none is listed), propose the
# change for a human's yes (`approve`), or make it (`auto`).
McpMode = Literal["read-only", "approve", "auto"]


class GatewaySettings(CommonSettings, SecretKeySettings):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Both set: the API is served over HTTPS with this certificate (PEM) and key.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
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
    # The gateway's own MongoDB database: API tokens and the audit log.
    database: str = "slipway_gateway"
    # False: no token is asked for; every call acts as an anonymous admin (still audited).
    auth_enabled: bool = True
    # The bootstrap admin token, made on first start (0600); default `<state_dir>/admin.token`.
    admin_token_file: Path | None = None
    # Who may read /metrics: `loopback` (clients on 127.0.0.0/8 and ::1; others need a
    # viewer token), `open` (anyone), `token` (a viewer token, always).
    metrics_access: MetricsAccess = "loopback"
    audit_retention_days: int = Field(90, ge=1)
    # `GET /api/events` sends a comment line when it has sent nothing for this long.
    events_heartbeat_s: float = Field(15.0, gt=0)
    # How often `GET /api/container-images/{id}/logs?follow=true` asks for new lines.
    log_follow_interval_s: float = Field(0.5, gt=0)
    # Where webhooks may deliver: networks (CIDR) and host names, comma-separated. The
    # default, loopback only, keeps the embedded stack from being used for SSRF.
    webhook_allowed_targets: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1", "localhost"]
    )
    webhook_timeout_s: float = Field(10.0, gt=0)
    # A failed delivery is tried again after 1 s, 2 s, 4 s ... up to the maximum wait; after
    # `webhook_max_attempts` it is given up and its subscription disabled (~35 min).
    webhook_max_attempts: int = Field(15, ge=1)
    webhook_backoff_initial_s: float = Field(1.0, gt=0)
    webhook_backoff_max_s: float = Field(300.0, gt=0)
    # How often the delivery queues are looked at for due events.
    webhook_poll_interval_s: float = Field(0.5, gt=0)
    # The shared secret Alertmanager sends to `POST /api/alerts/webhook` as a bearer
    # credential (a file, 0600; `make run` makes `.slipway/alertmanager.secret`). Unset: the
    # webhook refuses every call.
    alertmanager_secret_file: Path | None = None
    # A change an agent asked for (an MCP tool call in `approve` mode) waits this long for a
    # human's yes (`/api/approvals`), then expires.
    approval_ttl_s: float = Field(3600.0, gt=0)
    # How often pending approvals past their expiry are marked expired, and approved ones
    # whose command has no outcome yet (the gateway stopped meanwhile) are sent again.
    approval_sweep_interval_s: float = Field(15.0, gt=0)
    # Where Prometheus and Alertmanager answer, linked from /readyz (unset: not running).
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    # An optional language model explaining the advisors' answers (off when unset): an
    # OpenAI-compatible base URL (`…/v1`, e.g. Ollama's http://127.0.0.1:11434/v1), the
    # model's name and its API key (sent as a bearer token; never logged or answered).
    # The advisors' rule-based answers are sent to it as they are.
    ai_chat_url: str | None = Field(None, pattern=r"^https?://")
    ai_model: str | None = None
    ai_api_key: SecretStr | None = None
    ai_timeout_s: float = Field(20.0, gt=0, description="a slower model: no explanation")
    # `SLIPWAY_MCP_MODE`: what the MCP server's change tools do (see `McpMode`).
    mcp_mode: McpMode = "approve"

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("SLIPWAY_TLS_CERT_FILE and SLIPWAY_TLS_KEY_FILE go together")
        return self

    @model_validator(mode="after")
    def _ai_model_named(self) -> Self:
        if self.ai_chat_url and not self.ai_model:
            raise ValueError("SLIPWAY_AI_CHAT_URL needs SLIPWAY_AI_MODEL (the model's name)")
        return self

    @field_validator("ready_services", "webhook_allowed_targets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @property
    def admin_token_path(self) -> Path:
        return self.admin_token_file or self.state_dir / "admin.token"
