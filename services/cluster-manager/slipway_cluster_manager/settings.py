"""Cluster-manager settings (`SLIPWAY_*` environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from slipway_cluster_manager.adapters.host import DEFAULT_MEMORY_RESERVE_MB
from slipway_keys.secrets import SecretKeySettings
from slipway_libs.settings import CommonSettings


class ClusterManagerSettings(CommonSettings, SecretKeySettings):
    database: str = "slipway_cluster_manager"
    # Comma-separated directories; the kubeconfig driver reads kubeconfig files only there.
    kubeconfig_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path("~/.kube")]
    )
    # Health monitor: every running (or errored) cluster is probed this often.
    probe_interval_s: float = Field(5.0, gt=0)
    probe_timeout_s: float = Field(5.0, gt=0, description="one probe gives up after this")
    probe_concurrency: int = Field(8, ge=1, description="clusters probed at once")
    # Deadlines: an operation still in flight then ends `error`.
    minikube_start_deadline_s: float = Field(600, gt=0)
    sim_start_deadline_s: float = Field(60, gt=0)
    stop_deadline_s: float = Field(120, gt=0)
    delete_deadline_s: float = Field(300, gt=0, description="a stop (if running), then delete")
    operation_concurrency: int = Field(4, ge=1, description="operations run at once")
    progress_flush_s: float = Field(1.0, gt=0, description="how often progress is stored")
    # Host capabilities: memory kept back for the host itself.
    memory_reserve_mb: int = Field(DEFAULT_MEMORY_RESERVE_MB, ge=0)
    # minikube driver
    minikube_path: str = Field("minikube", description="the minikube executable")
    minikube_home: Path | None = Field(None, description="MINIKUBE_HOME for the CLI")
    minikube_vm_driver: str = Field("docker", description="minikube's --driver")
    # sim driver
    sim_ready_delay_s: float = Field(0.5, ge=0, description="a pod is Ready after this")
    sim_uses_docker_images: bool = Field(
        True, description="pods may run images of the local Docker Engine without a load"
    )
    docker_host: str | None = None

    @field_validator("kubeconfig_roots", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Path(p.strip()) for p in value.split(",") if p.strip()]
        return value

    @field_validator("kubeconfig_roots")
    @classmethod
    def _expand(cls, roots: list[Path]) -> list[Path]:
        return [root.expanduser() for root in roots]

    @property
    def clusters_dir(self) -> Path:
        """Where each cluster's files live: `<state_dir>/clusters/<name>`."""
        return self.state_dir.resolve() / "clusters"

    def start_deadline_s(self, driver: str) -> float:
        return self.sim_start_deadline_s if driver == "sim" else self.minikube_start_deadline_s

    def deadline_s(self, driver: str, action: str) -> float:
        """How long `action` may take on a cluster of `driver` (a restart: stop + start)."""
        if action == "stop":
            return self.stop_deadline_s
        if action == "delete":
            return self.delete_deadline_s
        if action == "restart":
            return self.stop_deadline_s + self.start_deadline_s(driver)
        return self.start_deadline_s(driver)
