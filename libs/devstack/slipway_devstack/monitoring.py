"""Prometheus and Alertmanager beside the embedded stack (`make run`), when Debian's
`prometheus` and `prometheus-alertmanager` are installed (`make install` installs them).

`make run` writes `.slipway/prometheus/prometheus.yml` (a scrape job per Slipway service,
the rules file, alerts to Alertmanager) and `.slipway/alertmanager/alertmanager.yml` (every
alert, firing and resolved, to the gateway's `POST /api/alerts/webhook`, authenticated by
the shared secret in `.slipway/alertmanager.secret`, 0600), then starts both on 127.0.0.1
with their storage under `.slipway/`. Without the binaries nothing here starts, and the
rest of Slipway runs as before.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HOST = "127.0.0.1"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
# Each worker's `/metrics` under `make run` (SLIPWAY_METRICS_PORT); the gateway's is on its port.
METRICS_PORTS = {
    "image-builder": 9101,
    "chart-validator": 9102,
    "cluster-manager": 9103,
    "workload-manager": 9104,
}
RULES_SOURCE = (
    Path(__file__).resolve().parents[3] / "charts" / "slipway" / "files" / "prometheus"
) / "slipway.rules.yml"
SECRET_FILE = "alertmanager.secret"
WEBHOOK_PATH = "/api/alerts/webhook"
# Alertmanager's labels that tell one alert from another: each is sent on its own.
EVERY_ALERT_ON_ITS_OWN = ["..."]


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def alertmanager_binary() -> str | None:
    # Debian names it prometheus-alertmanager; upstream's tarball, alertmanager.
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def ensure_secret(state_dir: Path) -> Path:
    """The shared secret Alertmanager sends and the gateway checks (made once, 0600)."""
    path = state_dir / SECRET_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return path


@dataclass
class Monitoring:
    """The configuration of Prometheus and Alertmanager for one embedded stack."""

    state_dir: Path
    gateway_url: str
    # job name → `host:port` of each replica's `/metrics`
    targets: dict[str, list[str]] = field(default_factory=dict)
    prometheus_port: int = PROMETHEUS_PORT
    alertmanager_port: int = ALERTMANAGER_PORT
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    # How long Alertmanager holds a new alert before sending it, and then between updates.
    group_wait: str = "1s"
    group_interval: str = "5s"
    repeat_interval: str = "4h"

    @property
    def prometheus_dir(self) -> Path:
        return self.state_dir / "prometheus"

    @property
    def alertmanager_dir(self) -> Path:
        return self.state_dir / "alertmanager"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{HOST}:{self.alertmanager_port}"

    def prometheus_config(self) -> dict[str, object]:
        rules = self.prometheus_dir / RULES_SOURCE.name
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "evaluation_interval": self.evaluation_interval,
            },
            "rule_files": [str(rules)],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [f"{HOST}:{self.alertmanager_port}"]}]}
                ]
            },
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": targets}]}
                for job, targets in sorted(self.targets.items())
            ],
        }

    def alertmanager_config(self) -> dict[str, object]:
        return {
            "route": {
                "receiver": "slipway",
                "group_by": EVERY_ALERT_ON_ITS_OWN,
                "group_wait": self.group_wait,
                "group_interval": self.group_interval,
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [
                {
                    "name": "slipway",
                    "webhook_configs": [
                        {
                            "url": self.gateway_url + WEBHOOK_PATH,
                            "send_resolved": True,
                            "http_config": {
                                "authorization": {
                                    "type": "Bearer",
                                    "credentials_file": str(ensure_secret(self.state_dir)),
                                }
                            },
                        }
                    ],
                }
            ],
        }

    def write(self) -> tuple[Path, Path]:
        """Write prometheus.yml (with a copy of the rules) and alertmanager.yml; their paths."""
        self.prometheus_dir.mkdir(parents=True, exist_ok=True)
        self.alertmanager_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(RULES_SOURCE, self.prometheus_dir / RULES_SOURCE.name)
        prometheus = self.prometheus_dir / "prometheus.yml"
        prometheus.write_text(yaml.safe_dump(self.prometheus_config(), sort_keys=False))
        alertmanager = self.alertmanager_dir / "alertmanager.yml"
        alertmanager.write_text(yaml.safe_dump(self.alertmanager_config(), sort_keys=False))
        return prometheus, alertmanager

    def prometheus_argv(self, binary: str) -> list[str]:
        return [
            binary,
            f"--config.file={self.prometheus_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.prometheus_dir / 'data'}",
            "--storage.tsdb.retention.time=15d",
            f"--web.listen-address={HOST}:{self.prometheus_port}",
            f"--web.external-url={self.prometheus_url}/",
        ]

    def alertmanager_argv(self, binary: str) -> list[str]:
        return [
            binary,
            f"--config.file={self.alertmanager_dir / 'alertmanager.yml'}",
            f"--storage.path={self.alertmanager_dir / 'data'}",
            f"--web.listen-address={HOST}:{self.alertmanager_port}",
            f"--web.external-url={self.alertmanager_url}/",
            "--cluster.listen-address=",  # no gossip: a single Alertmanager, nothing on the LAN
        ]
