"""What the use cases need from the outside world: the container engine, the build-log
store, the live-progress channel, the image scanner and the SBOM store. The adapters implement them; unit tests use fakes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from slipway_contracts.advice import DockerfileFinding
from slipway_image_builder.domain.image import BuildResult
from slipway_image_builder.domain.scan import ScanReport


@dataclass(frozen=True)
class RegistryLogin:
    """Credentials of a registry (the password never in a repr or a log)."""

    username: str
    password: str = field(repr=False)


OnLine = Callable[[str], None]
"""Takes one log line; engines call it from their own threads."""


class Engine(Protocol):
    """A container engine (the Docker Engine). Failures are classified: RetryableError when
    the engine cannot be reached, PermanentError when it refuses the work."""

    async def build(
        self,
        *,
        reference: str,
        context: Path,
        dockerfile: str,
        args: dict[str, str],
        on_line: OnLine,
    ) -> BuildResult:
        """Build `context` into `reference` (no network), streaming its log to `on_line`."""
        ...

    async def push(
        self,
        reference: str,
        repository: str,
        tag: str,
        on_line: OnLine,
        auth: RegistryLogin | None = None,
    ) -> str:
        """Tag `reference` as `repository:tag` and push it (logging in with `auth`); the
        pushed digest ('' if none)."""
        ...

    async def exists(self, reference: str, image_id: str) -> bool:
        """Whether `reference` still names the image `image_id` (RetryableError: can't tell)."""
        ...

    async def remove(self, reference: str) -> None:
        """Remove `reference` from the engine; one already gone is fine."""
        ...

    async def repo_digest(self, reference: str) -> str | None:
        """The repository digest (`sha256:…`) the engine knows for `reference`; None when it
        has none (a local build or import) or lacks the image."""
        ...


class LinterUnavailable(Exception):
    """The linter could not run (missing, crashed or too slow): `str()` says why."""


class DockerfileLinter(Protocol):
    """A Dockerfile linter (hadolint); `LinterUnavailable` when it cannot run (the advice
    then notes it and keeps Slipway's own findings)."""

    async def lint(self, dockerfile: Path) -> list[DockerfileFinding]: ...


class BuildLogs(Protocol):
    """The log lines of each build attempt, kept to be read after the build. Failures to
    store are Unavailable."""

    async def restart(self, image_id: str, build_id: str) -> None:
        """Forget the lines of an earlier run of this build attempt."""
        ...

    async def append(self, image_id: str, build_id: str, first_seq: int, lines: list[str]) -> None:
        """Keep a batch of lines numbered from `first_seq`."""
        ...

    async def read(self, image_id: str, build_id: str, from_line: int = 0) -> list[str]:
        """The lines of one build attempt, in order, from line `from_line` (0: the first)."""
        ...

    async def drop(self, image_id: str) -> None:
        """Forget every build log of an image."""
        ...


class Progress(Protocol):
    """Live progress lines of an image's build (best effort: never raises)."""

    async def publish(self, entity_id: str, lines: list[str]) -> None: ...


class Scanner(Protocol):
    """A security scanner of built images (Trivy). RetryableError when the engine holding the
    image cannot be reached; PermanentError when the scan cannot be made."""

    async def scan(self, reference: str, dockerfile: Path | None = None) -> ScanReport:
        """Scan the engine's image `reference` (and lint `dockerfile`, when given): its
        findings, what was skipped and why, the scanners' versions and a CycloneDX SBOM.
        Secret values never leave the scanner."""
        ...


class Sboms(Protocol):
    """The SBOM of each scan, kept to be read later. Failures to store are Unavailable."""

    async def keep(self, image_id: str, scan_id: str, document: bytes) -> None:
        """Keep the SBOM of scan `scan_id`, dropping the image's older ones."""
        ...

    async def read(self, image_id: str) -> bytes | None:
        """The image's latest kept SBOM, or None."""
        ...

    async def drop(self, image_id: str) -> None:
        """Forget every SBOM of an image."""
        ...


class RegistryCredentials(Protocol):
    """Images' registry credentials, kept sealed apart from the image records (never in an
    entity, event, reply or log). Writes join the open unit of work's transaction."""

    async def keep(self, image_id: str, login: RegistryLogin) -> None: ...

    async def read(self, image_id: str) -> RegistryLogin | None:
        """The image's credentials; PermanentError when they cannot be opened."""
        ...

    async def forget(self, image_id: str) -> None: ...
