"""Fakes of the image-builder's ports, and dependencies built on the in-memory repository
and unit of work: use cases run with no NATS, MongoDB or Docker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slipway_contracts import subjects
from slipway_contracts.advice import DockerfileFinding
from slipway_contracts.commands import ImageSpec
from slipway_image_builder.domain.image import MB, BuildResult, ContainerImageAggregate, SizeLimits
from slipway_image_builder.domain.ports import LinterUnavailable, OnLine, RegistryLogin
from slipway_image_builder.domain.scan import ScanReport
from slipway_image_builder.service_layer.dependencies import Dependencies
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_libs import context
from slipway_libs.errors import RetryableError, Unavailable
from tests.fakes import FakeProgress
from tests.memory import InMemoryRepository, InMemoryUnitOfWork

STEPS = ["Step 1/2 : FROM scratch", "Step 2/2 : COPY app /app", "Successfully built"]


class FakeEngine:
    """A container engine that builds instantly: `reference -> image id` in `images`.

    `fail_with` makes the next builds raise; `unreachable` makes every call raise
    RetryableError; `hold` (an Event) keeps a build running until it is set."""

    def __init__(self) -> None:
        self.images: dict[str, str] = {}
        self.built: list[tuple[str, Path, str, dict[str, str]]] = []
        self.pushed: list[str] = []
        self.logins: list[RegistryLogin | None] = []
        self.removed: list[str] = []
        self.size = 5 * MB
        self.fail_with: Exception | None = None
        self.unreachable = False
        self.hold: asyncio.Event | None = None
        self.repo_digests: dict[str, str] = {}

    def _check_reachable(self) -> None:
        if self.unreachable:
            raise RetryableError("Docker Engine is unreachable: connection refused")

    async def build(
        self,
        *,
        reference: str,
        context: Path,
        dockerfile: str,
        args: dict[str, str],
        on_line: OnLine,
    ) -> BuildResult:
        self._check_reachable()
        self.built.append((reference, context, dockerfile, args))
        for line in STEPS[:-1]:
            on_line(line)
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_with is not None:
            on_line(f"ERROR: {self.fail_with}")
            raise self.fail_with
        on_line(STEPS[-1])
        image_id = f"sha256:{len(self.built):064d}"
        self.images[reference] = image_id
        return BuildResult(image_id=image_id, size=self.size, digest=image_id, user="65532")

    async def push(
        self,
        reference: str,
        repository: str,
        tag: str,
        on_line: OnLine,
        auth: RegistryLogin | None = None,
    ) -> str:
        self._check_reachable()
        self.pushed.append(f"{repository}:{tag}")
        self.logins.append(auth)
        on_line("push: Pushed")
        return "sha256:pushed"

    async def exists(self, reference: str, image_id: str) -> bool:
        self._check_reachable()
        return self.images.get(reference) == image_id

    async def remove(self, reference: str) -> None:
        self._check_reachable()
        self.images.pop(reference, None)
        self.removed.append(reference)

    async def repo_digest(self, reference: str) -> str | None:
        self._check_reachable()
        return self.repo_digests.get(reference)


class FakeBuildLogs:
    """Build logs in a dict; `unavailable` makes appends fail as a down MongoDB would."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self.unavailable = False

    async def restart(self, image_id: str, build_id: str) -> None:
        self.lines[(image_id, build_id)] = []

    async def append(self, image_id: str, build_id: str, first_seq: int, lines: list[str]) -> None:
        if self.unavailable:
            raise Unavailable("MongoDB is unavailable: ServerSelectionTimeoutError")
        kept = self.lines.setdefault((image_id, build_id), [])
        kept += [(first_seq + i, line) for i, line in enumerate(lines)]

    async def read(self, image_id: str, build_id: str, from_line: int = 0) -> list[str]:
        kept = sorted(self.lines.get((image_id, build_id), []))
        return [line for seq, line in kept if seq >= from_line]

    async def drop(self, image_id: str) -> None:
        for key in [k for k in self.lines if k[0] == image_id]:
            del self.lines[key]


class FakeScanner:
    """A scanner that answers `report` at once (its findings, skipped notes, SBOM);
    `fail_with` makes scans raise. `scanned` lists (reference, dockerfile) per scan."""

    def __init__(self) -> None:
        self.report = ScanReport(scanners={"trivy": "0.0.0-fake"}, findings=[], sbom=b"{}")
        self.fail_with: Exception | None = None
        self.scanned: list[tuple[str, Path | None]] = []

    async def scan(self, reference: str, dockerfile: Path | None = None) -> ScanReport:
        self.scanned.append((reference, dockerfile))
        if self.fail_with is not None:
            raise self.fail_with
        return self.report


class FakeRegistryCredentials:
    """Registry logins in a dict (the real one seals them)."""

    def __init__(self) -> None:
        self.kept: dict[str, RegistryLogin] = {}

    async def keep(self, image_id: str, login: RegistryLogin) -> None:
        self.kept[image_id] = login

    async def read(self, image_id: str) -> RegistryLogin | None:
        return self.kept.get(image_id)

    async def forget(self, image_id: str) -> None:
        self.kept.pop(image_id, None)


class FakeSboms:
    """SBOMs in a dict, per image the latest one."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[str, bytes]] = {}

    async def keep(self, image_id: str, scan_id: str, document: bytes) -> None:
        self.kept[image_id] = (scan_id, document)

    async def read(self, image_id: str) -> bytes | None:
        kept = self.kept.get(image_id)
        return kept[1] if kept else None

    async def drop(self, image_id: str) -> None:
        self.kept.pop(image_id, None)


class FakeLinter:
    """A linter with a fixed answer: `findings`, or `LinterUnavailable` when `down`."""

    def __init__(self) -> None:
        self.findings: list[DockerfileFinding] = []
        self.down = False

    async def lint(self, dockerfile: Path) -> list[DockerfileFinding]:
        if self.down:
            raise LinterUnavailable("hadolint is not installed")
        return list(self.findings)


def dependencies(build_root: Path, **settings: object) -> Dependencies:
    """Dependencies on fakes; `build_root` holds the build contexts (see `add_context`).
    Every use case shares one InMemoryUnitOfWork: `deps.uow.events`, `.jobs`, ..."""
    return Dependencies(
        settings=ImageBuilderSettings(build_roots=[build_root], **settings),
        uow=InMemoryUnitOfWork(),
        images=InMemoryRepository(ContainerImageAggregate, subjects.CONTAINER_IMAGE),
        engine=FakeEngine(),
        logs=FakeBuildLogs(),
        progress=FakeProgress(),
        scanner=FakeScanner(),
        sboms=FakeSboms(),
        registry_credentials=FakeRegistryCredentials(),
        linter=FakeLinter(),
    )


def add_context(build_root: Path, name: str = "app") -> Path:
    """A build context `name` with a Dockerfile under `build_root`."""
    directory = build_root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    return directory


SPEC = {
    "name": "todo/backend",
    "tag": "1.0.0",
    "application": "backend",
    "build": {"context": "app"},
}


def put_image(deps: Dependencies, *, built: bool = True, **spec: object) -> ContainerImageAggregate:
    """Store an image as committed (no events): `building`, or `built` and in the engine."""
    image = ContainerImageAggregate.register(
        ImageSpec.model_validate({**SPEC, **spec}),
        image_id=context.new_id(),
        build_id=context.new_id(),
        deadline=datetime.now(UTC) + timedelta(minutes=5),
    )
    if built:
        result = BuildResult(
            image_id="sha256:" + "1" * 64, size=MB, digest="sha256:d", user="65532"
        )
        limits = SizeLimits(100 * MB, 100 * MB)
        image.build_succeeded(image.state.build_id, result, limits, scan_id=context.new_id())
        deps.engine.images[image.state.reference] = result.image_id  # type: ignore[attr-defined]
    return deps.images.put(image)
