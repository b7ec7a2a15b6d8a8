"""What the use cases need from the outside world: the container engine, the build-log
store and the live-progress channel. The adapters implement them; unit tests use fakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from slipway_image_builder.domain.image import BuildResult

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

    async def push(self, reference: str, repository: str, tag: str, on_line: OnLine) -> str:
        """Tag `reference` as `repository:tag` and push it; the pushed digest ('' if none)."""
        ...

    async def exists(self, reference: str, image_id: str) -> bool:
        """Whether `reference` still names the image `image_id` (RetryableError: can't tell)."""
        ...

    async def remove(self, reference: str) -> None:
        """Remove `reference` from the engine; one already gone is fine."""
        ...


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
