"""Settings shared by every service, read from `SLIPWAY_*` environment variables."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """What every Slipway process needs; services subclass it with their own fields."""

    # An error names the setting and the reason, never the value (it may hold a secret).
    model_config = SettingsConfigDict(
        env_prefix="SLIPWAY_", extra="ignore", hide_input_in_errors=True
    )

    # One server, or several comma-separated (the servers of a NATS cluster).
    nats_url: str = "nats://127.0.0.1:4222"
    # This process's NATS principal: its NKey seed file, `<principal>.nk` (mode 0600).
    nats_nkey_file: Path | None = None
    # `{principal: public key}` (JSON): whose signed commands a service can verify.
    nats_principals_file: Path | None = None
    # The CA of a `tls://` NATS server (None: the system's); MongoDB's TLS is in its URI.
    nats_ca_file: Path | None = None
    # It may carry a password: kept out of the repr; read from `mongodb_uri_file` when set.
    mongodb_uri: str = Field("mongodb://127.0.0.1:27017/?replicaSet=rs0", repr=False)
    mongodb_uri_file: Path | None = None
    mongodb_timeout_s: float = Field(3.0, gt=0, description="server selection timeout")
    # How many copies of SLIPWAY_EVENTS, SLIPWAY_JOBS and SLIPWAY_AUDIT a NATS cluster keeps.
    stream_replicas: int = Field(1, ge=1, le=5)
    events_max_age_days: float = Field(30, gt=0, description="how long SLIPWAY_EVENTS keeps one")
    log_level: str = "INFO"
    state_dir: Path = Path(".slipway")
    instance: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    # A job this long without a heartbeat is redelivered; after this many deliveries it fails.
    job_ack_wait_s: float = Field(30.0, gt=0)
    job_max_deliver: int = Field(5, ge=1)
    relay_interval_s: float = Field(0.5, gt=0)
    # Commands and queries of one subject handled at once by a worker (each entity's in turn).
    # More only lengthens the event loop's queue, which every await (the relay's too) waits in.
    max_concurrency: int = Field(16, ge=1)
    reconcile_interval_s: float = Field(5.0, gt=0)
    # Workers answer `GET /healthz` on this port when set (in a pod, listen on 0.0.0.0).
    health_port: int | None = Field(None, ge=1, le=65535)
    health_host: str = "127.0.0.1"
    # Workers serve Prometheus `GET /metrics` on this port when set (0 or unset: not served).
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    metrics_interval_s: float = Field(5.0, gt=0, description="how often gauges are sampled")

    @model_validator(mode="after")
    def _read_mongodb_uri_file(self) -> Self:
        if self.mongodb_uri_file is None:
            return self
        try:
            uri = self.mongodb_uri_file.read_text().strip()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ValueError(
                f"SLIPWAY_MONGODB_URI_FILE: cannot read {self.mongodb_uri_file}: {reason}"
            ) from None
        if not uri:
            raise ValueError(f"SLIPWAY_MONGODB_URI_FILE: {self.mongodb_uri_file} is empty")
        self.mongodb_uri = uri
        return self
