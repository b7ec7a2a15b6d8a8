"""Settings shared by every service, read from `SLIPWAY_*` environment variables."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """What every Slipway process needs; services subclass it with their own fields."""

    model_config = SettingsConfigDict(env_prefix="SLIPWAY_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    mongodb_uri: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    mongodb_timeout_s: float = Field(3.0, gt=0, description="server selection timeout")
    log_level: str = "INFO"
    state_dir: Path = Path(".slipway")
    instance: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    # Work-queue consumers: how long a job may go without a heartbeat before NATS
    # redelivers it, and how many deliveries before the entity is failed for good.
    job_ack_wait_s: float = Field(30.0, gt=0)
    job_max_deliver: int = Field(5, ge=1)
    relay_interval_s: float = Field(0.5, gt=0)
    reconcile_interval_s: float = Field(5.0, gt=0)
    # Worker services answer `GET /healthz` over plain HTTP on this port when it is set
    # (Kubernetes probes); inside a pod the host must be the pod's address, e.g. 0.0.0.0.
    health_port: int | None = Field(None, ge=1, le=65535)
    health_host: str = "127.0.0.1"
