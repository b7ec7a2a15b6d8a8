"""The ports of the cluster-manager: the cluster driver and the value types it speaks,
the kubeconfig files of attached clusters, the clusters' sealed credentials, and the
live-progress channel.

One driver per cluster backend (`minikube`, `kubeconfig`, `sim`). The cluster-manager's
use cases call a driver through `ClusterDriver`; tests use fakes that implement the same
protocols.

Errors follow the kopf split (`TemporaryError` / `PermanentError`): a driver raises
`TemporaryDriverError` when the same call may succeed later (the job is nacked and
redelivered), `PermanentDriverError` when it never will (the cluster goes to `error`
with the message as its reason), and `InvalidClusterSpec` (a permanent error naming the
field) when the spec itself is unacceptable to the backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

ProbeStatus = Literal["running", "stopped", "error"]

Progress = Callable[[str], Awaitable[None]]
"""Receives one human-readable progress line at a time (e.g. minikube's start output)."""

ImageTar = AsyncIterator[bytes] | Path
"""An image archive (`docker save` format), streamed or as a file."""

IMAGE_NOT_FOUND = "IMAGE_NOT_FOUND"
"""`DriverError.code` of an image load whose image the host does not have."""


@dataclass(frozen=True)
class ClusterSpec:
    """What a driver needs to know about one cluster.

    `state_dir` is a directory owned by this one cluster; a driver may keep files there
    (the minikube driver keeps the kubeconfig minikube writes). `extra` holds
    driver-specific settings, e.g. `{"kubeconfig": "/path", "context": "ctx"}` for the
    kubeconfig driver or `{"minikube_driver": "docker"}` for minikube. `kubeconfig_data`
    is the opened content of a kubeconfig given inline (a credential: never printed).
    """

    name: str
    driver: str
    cpus: int
    memory_mb: int
    disk_size_mb: int
    kubernetes_version: str
    state_dir: Path
    extra: Mapping[str, str] = field(default_factory=dict)
    kubeconfig_data: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProbeResult:
    """The observed state of a cluster.

    `reason` explains anything but a healthy `running` (and may annotate one);
    `components` carries backend detail, e.g. minikube's Host/Kubelet/APIServer/Kubeconfig.
    """

    status: ProbeStatus
    reason: str | None = None
    components: Mapping[str, str] = field(default_factory=dict)


class DriverError(Exception):
    """A driver operation failed; `retryable` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        # A stable machine-readable cause, e.g. minikube's "RSRC_INSUFFICIENT_CORES".
        self.code = code


class TemporaryDriverError(DriverError):
    """The operation may succeed if retried later (timeout, backend busy or down)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, retryable=True, code=code)


class PermanentDriverError(DriverError):
    """Retrying the same operation cannot succeed; a person has to change something."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, retryable=False, code=code)


class InvalidClusterSpec(PermanentDriverError):
    """The spec is unacceptable to this driver; `field` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}", code="INVALID_SPEC")
        self.field = field_name


@runtime_checkable
class ClusterDriver(Protocol):
    """A cluster backend.

    Every method is idempotent: starting a running cluster, stopping a stopped one and
    deleting a missing one succeed. `probe` reports what it observes and raises only when
    it could not observe anything (e.g. the backend's CLI is missing or hangs).
    """

    async def start(self, spec: ClusterSpec, progress: Progress) -> None:
        """Create or start the cluster, streaming progress lines; return once it is up."""
        ...

    async def stop(self, spec: ClusterSpec) -> None:
        """Stop the cluster, keeping its state for a later start."""
        ...

    async def delete(self, spec: ClusterSpec) -> None:
        """Remove the cluster and everything the backend keeps for it."""
        ...

    async def probe(self, spec: ClusterSpec) -> ProbeResult:
        """Observe the cluster's current state."""
        ...

    async def kubeconfig(self, spec: ClusterSpec) -> str:
        """Return a self-contained kubeconfig (YAML) whose current context is this cluster."""
        ...

    async def load_image(
        self, spec: ClusterSpec, image_ref: str, image_tar: ImageTar | None = None
    ) -> None:
        """Make an image available to the cluster's container runtime.

        With `image_tar` the archive is loaded; without it the backend loads `image_ref`
        from where it finds images by itself (minikube: the host's Docker daemon).
        """
        ...


@dataclass(frozen=True)
class Attachment:
    """Where an attached cluster is found: an absolute kubeconfig path and its context."""

    kubeconfig: str
    context: str


class Kubeconfigs(Protocol):
    """The kubeconfig files of this host (only those under the kubeconfig roots), and what
    a kubeconfig says."""

    def attachment(self, kubeconfig: str | None, context: str | None) -> Attachment:
        """The file (default: where kubectl looks) and context (default: its
        current-context) an attached cluster uses; InvalidClusterSpec naming `kubeconfig`
        or `context` when either cannot be used. A path outside the kubeconfig roots is
        refused before anything of it is read."""
        ...

    def inline_context(self, content: str, context: str | None) -> str:
        """The context (default: its current-context) a kubeconfig given as `content`
        attaches; InvalidClusterSpec naming `kubeconfig_data` or `context` when it is not
        a self-contained kubeconfig (it may neither name files nor run commands here)."""
        ...

    def api_server(self, kubeconfig: str) -> str | None:
        """The API server URL of a kubeconfig text's current context (None if it has none)."""
        ...


class ClusterCredentials(Protocol):
    """Clusters' credentials, kept sealed apart from the cluster records: never part of an
    entity snapshot, an event or a reply. `keep_kubeconfig` and `forget` write in the unit
    of work open in the task (they commit or roll back with it)."""

    async def keep_kubeconfig(self, cluster_id: str, kubeconfig: str) -> None:
        """Seal and keep the kubeconfig content of a cluster."""
        ...

    async def kubeconfig(self, cluster_id: str) -> str:
        """The opened kubeconfig content of a cluster; PermanentDriverError (code
        `CREDENTIALS`) when none is kept or it cannot be opened."""
        ...

    async def forget(self, cluster_id: str) -> None:
        """Remove whatever is kept for a cluster (nothing kept: nothing happens)."""
        ...


class ProgressChannel(Protocol):
    """Where live progress lines of a cluster operation go (best effort, never raises)."""

    async def publish(
        self, entity_id: str, lines: list[str], operation_id: str | None = None
    ) -> None: ...
