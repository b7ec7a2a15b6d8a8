"""Validation of a requested cluster against what the host can give it.

Pure: the host's capabilities arrive as a value (`adapters.host` reads the real ones).
Every problem is reported at once, one `FieldError` per field, worded for the person who
sent the request: ``cpus: 512 exceeds the host's 2 cores``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_LABEL_MAX = 63
KUBERNETES_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


@dataclass(frozen=True)
class HostCapabilities:
    """What the machine running the clusters has.

    `memory_reserve_mb` is kept back for the host itself (OS, Docker, Slipway).
    """

    cpu_cores: int
    memory_total_mb: int
    memory_reserve_mb: int
    disk_free_mb: int

    @property
    def memory_available_mb(self) -> int:
        return max(0, self.memory_total_mb - self.memory_reserve_mb)


@dataclass(frozen=True)
class DriverMinimums:
    """The smallest cluster a driver can run."""

    cpus: int = 1
    memory_mb: int = 1
    disk_size_mb: int = 1
    name_length: int = 1


# minikube refuses less (cmd/minikube/cmd/start_flags.go: minimumCPUS = 2,
# minUsableMem = 1800, minimumDiskSize = 2000) and profile names shorter than 2
# characters (start.go: "Minimum 2 characters, starting with alphanumeric").
MINIKUBE_MINIMUMS = DriverMinimums(cpus=2, memory_mb=1800, disk_size_mb=2000, name_length=2)

MINIMUMS_BY_DRIVER: Mapping[str, DriverMinimums] = {"minikube": MINIKUBE_MINIMUMS}


def minimums_for(driver: str) -> DriverMinimums:
    """The minimums of `driver`; drivers without special needs get 1 of everything."""
    return MINIMUMS_BY_DRIVER.get(driver, DriverMinimums())


@dataclass(frozen=True)
class KubernetesVersionRange:
    """Supported versions: from `oldest` (inclusive) to any patch of `newest_minor`."""

    oldest: tuple[int, int, int] = (1, 28, 0)
    newest_minor: tuple[int, int] = (1, 34)

    def contains(self, version: tuple[int, int, int]) -> bool:
        return self.oldest <= version and version[:2] <= self.newest_minor

    def describe(self) -> str:
        major, minor, patch = self.oldest
        return f"v{major}.{minor}.{patch} to v{self.newest_minor[0]}.{self.newest_minor[1]}.x"


SUPPORTED_KUBERNETES_VERSIONS = KubernetesVersionRange()


@dataclass(frozen=True)
class FieldError:
    """One problem with one request field; `field` uses the REST body's field names."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def validate_name(name: object, *, min_length: int = 1) -> FieldError | None:
    """A cluster name must be a DNS-1123 label (it becomes a profile and context name)."""
    if not isinstance(name, str) or not name:
        return FieldError("name", "is required")
    if not DNS1123_LABEL.match(name) or len(name) > DNS1123_LABEL_MAX:
        return FieldError(
            "name",
            f"{name!r} is not a DNS-1123 label (lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {DNS1123_LABEL_MAX} "
            "characters)",
        )
    if len(name) < min_length:
        return FieldError("name", f"{name!r} is shorter than {min_length} characters")
    return None


def parse_kubernetes_version(version: str) -> tuple[int, int, int] | None:
    """`"v1.30.2"` -> `(1, 30, 2)`; anything else -> None."""
    match = KUBERNETES_VERSION.match(version)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def validate_kubernetes_version(
    version: object, supported: KubernetesVersionRange = SUPPORTED_KUBERNETES_VERSIONS
) -> FieldError | None:
    """The version must look like `v1.30.2` and lie within the supported range."""
    if not isinstance(version, str) or not version:
        return FieldError("kubernetes_version", "is required")
    parsed = parse_kubernetes_version(version)
    if parsed is None:
        return FieldError(
            "kubernetes_version",
            f"{version!r} is not of the form vMAJOR.MINOR.PATCH (e.g. v1.30.2)",
        )
    if not supported.contains(parsed):
        return FieldError(
            "kubernetes_version",
            f"{version} is outside the supported range {supported.describe()}",
        )
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_amount(
    field_name: str,
    value: object,
    *,
    unit: str,
    minimum: int,
    limit: int,
    limit_text: str,
    value_suffix: str = "",
) -> FieldError | None:
    if not _is_int(value):
        return FieldError(field_name, f"must be a whole number of {unit}")
    assert isinstance(value, int)
    if value < minimum:
        return FieldError(field_name, f"{value} is below the minimum of {minimum} {unit}")
    if value > limit:
        return FieldError(field_name, f"{value}{value_suffix} exceeds {limit_text}")
    return None


def validate_cluster_request(
    *,
    name: object,
    cpus: object,
    memory_mb: object,
    disk_size_mb: object,
    kubernetes_version: object,
    host: HostCapabilities,
    minimums: DriverMinimums = DriverMinimums(),
    versions: KubernetesVersionRange = SUPPORTED_KUBERNETES_VERSIONS,
) -> list[FieldError]:
    """Check a requested cluster against the host and the driver; empty list = acceptable.

    Field names are those of the REST body: `name`, `cpus`, `memory`, `disk_size`,
    `kubernetes_version` (memory and disk size in MB).
    """
    errors = [
        validate_name(name, min_length=minimums.name_length),
        _validate_amount(
            "cpus",
            cpus,
            unit="cores",
            minimum=minimums.cpus,
            limit=host.cpu_cores,
            limit_text=f"the host's {host.cpu_cores} cores",
        ),
        _validate_amount(
            "memory",
            memory_mb,
            unit="MB",
            minimum=minimums.memory_mb,
            value_suffix=" MB",
            limit=host.memory_available_mb,
            limit_text=(
                f"the host's available {host.memory_available_mb} MB "
                f"({host.memory_total_mb} MB total, {host.memory_reserve_mb} MB reserved "
                "for the host)"
            ),
        ),
        _validate_amount(
            "disk_size",
            disk_size_mb,
            unit="MB",
            minimum=minimums.disk_size_mb,
            value_suffix=" MB",
            limit=host.disk_free_mb,
            limit_text=f"the host's {host.disk_free_mb} MB of free disk",
        ),
        validate_kubernetes_version(kubernetes_version, versions),
    ]
    return [error for error in errors if error is not None]
