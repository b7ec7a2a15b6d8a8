"""ContainerImage: its lifecycle rules, free of I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel

from slipway_contracts.commands import ImageSpec
from slipway_contracts.entities import (
    IMAGE_TRANSITIONS,
    ApplicationType,
    ContainerImage,
    ImageScan,
    ImageStatus,
    ScanStatus,
)
from slipway_image_builder.domain.scan import PolicyMode, refusal
from slipway_libs.aggregate import Aggregate, utcnow
from slipway_libs.errors import Conflict
from slipway_libs.statemachine import TransitionTable

MB = 1024 * 1024


@dataclass(frozen=True)
class BuildResult:
    """What the engine reports about a finished build."""

    image_id: str
    size: int
    digest: str
    user: str


@dataclass(frozen=True)
class SizeLimits:
    """Largest image allowed per application type, in bytes."""

    frontend: int
    backend: int

    def for_application(self, application: ApplicationType) -> int:
        return self.frontend if application is ApplicationType.FRONTEND else self.backend


def entity_fields(spec: ImageSpec) -> dict[str, Any]:
    """The entity's fields from a spec: its registry password never among them."""
    fields = spec.model_dump(exclude={"registry_auth"})
    fields["registry_username"] = spec.registry_auth.username if spec.registry_auth else None
    return fields


def spec_of(model: BaseModel) -> ImageSpec:
    """The client-settable fields of an image, a PUT body or any model holding them."""
    return ImageSpec.model_validate(model.model_dump(include=set(ImageSpec.model_fields)))


class ContainerImageAggregate(Aggregate[ContainerImage]):
    table = TransitionTable.of("container_image", IMAGE_TRANSITIONS)
    in_flight = (ImageStatus.BUILDING,)

    @classmethod
    def register(cls, spec: ImageSpec, *, image_id: str, build_id: str, deadline: datetime) -> Self:
        """A new image, `building`, with its first build queued."""
        return cls.create(
            ContainerImage,
            image_id,
            ImageStatus.BUILDING,
            build_id=build_id,
            deadline=deadline,
            **entity_fields(spec),
        )

    def needs_rebuild(self, spec: ImageSpec) -> bool:
        """A changed name, tag or build spec means a new image must be built."""
        current = spec_of(self.state)
        return (current.name, current.tag, current.build) != (spec.name, spec.tag, spec.build)

    def respecify(self, spec: ImageSpec, *, build_id: str, deadline: datetime) -> bool:
        """Apply a PUT; returns True when it queued a rebuild."""
        if self.state.status is ImageStatus.BUILDING:
            raise Conflict(
                f"image '{self.id}' is building (current status: building); "
                "wait for the build to finish before changing it",
                {"current_status": self.status},
            )
        fields = entity_fields(spec)
        if not self.needs_rebuild(spec):
            self.update(**fields)
            return False
        self.restart(
            ImageStatus.BUILDING,
            **fields,
            build_id=build_id,
            deadline=deadline,
            reason=None,
            size=None,
            digest=None,
            image_id=None,
            user=None,
            scan=None,
        )
        return True

    def is_current_build(self, build_id: str) -> bool:
        """Whether a build job is still the one this image waits for."""
        return self.state.status is ImageStatus.BUILDING and self.state.build_id == build_id

    def build_succeeded(
        self, build_id: str, result: BuildResult, limits: SizeLimits, *, scan_id: str
    ) -> None:
        """Record a finished build, its scan `scan_id` pending; an image over its size limit
        fails instead."""
        if not self.is_current_build(build_id):
            return
        limit = limits.for_application(self.state.application)
        if result.size > limit:
            self.transition(
                ImageStatus.FAILED,
                reason=(
                    f"image size {result.size / MB:.1f} MB exceeds the "
                    f"{self.state.application} limit of {limit / MB:.1f} MB"
                ),
                size=result.size,
                image_id=result.image_id,
                deadline=None,
            )
            return
        self.transition(
            ImageStatus.BUILT,
            size=result.size,
            digest=result.digest,
            image_id=result.image_id,
            user=result.user,
            reason=None,
            deadline=None,
            scan=_pending_scan(scan_id),
        )

    def build_failed(self, build_id: str, reason: str) -> None:
        """Record a failed build (stale build attempts change nothing)."""
        if self.is_current_build(build_id):
            self.transition(ImageStatus.FAILED, reason=reason, deadline=None)

    def overdue(self, deadline: datetime) -> None:
        """A build still running past its deadline fails."""
        self.transition(
            ImageStatus.FAILED,
            reason=f"build did not finish before its deadline ({deadline.isoformat()})",
            deadline=None,
        )

    def vanished(self) -> bool:
        """A built image no longer exists in the engine: fail it (only from `built`)."""
        if self.state.status is not ImageStatus.BUILT:
            return False
        self.transition(
            ImageStatus.FAILED,
            reason=f"image {self.state.reference} ({self.state.image_id}) no longer exists "
            "in the Docker Engine",
        )
        return True

    # --- scans -----------------------------------------------------------------------

    def request_scan(self, scan_id: str) -> None:
        """Scan again: the scan `scan_id` becomes pending (only a built image is scanned)."""
        if self.state.status is not ImageStatus.BUILT:
            raise Conflict(
                f"image '{self.id}' is {self.status} (current status: {self.status}); "
                "only a built image can be scanned",
                {"current_status": self.status},
            )
        self.update(scan=_pending_scan(scan_id))

    def awaits_scan(self, scan_id: str) -> bool:
        """Whether the scan `scan_id` is the pending scan of this (built) image."""
        scan = self.state.scan
        return (
            self.state.status is ImageStatus.BUILT
            and scan is not None
            and scan.scan_id == scan_id
            and scan.status is ScanStatus.PENDING
        )

    def scanned(self, scan: ImageScan, policy: PolicyMode) -> None:
        """Record a finished scan (a `scanned` event); under the enforce policy an image that
        runs as root or has a critical finding then fails with the reason."""
        if not self.awaits_scan(scan.scan_id):
            return
        self._write("scanned", self.status, {"scan": scan})
        reason = refusal(scan)
        if policy is PolicyMode.ENFORCE and reason is not None:
            self.transition(ImageStatus.FAILED, reason=reason)

    def scan_failed(self, scan_id: str, reason: str) -> None:
        """The scan `scan_id` could not run (a `scanned` event with status failed)."""
        current = self.state.scan
        if current is None or not self.awaits_scan(scan_id):
            return
        failed = current.model_copy(
            update={"status": ScanStatus.FAILED, "scanned_at": utcnow(), "reason": reason}
        )
        self._write("scanned", self.status, {"scan": failed})


def _pending_scan(scan_id: str) -> ImageScan:
    return ImageScan(status=ScanStatus.PENDING, scan_id=scan_id, requested_at=utcnow())
