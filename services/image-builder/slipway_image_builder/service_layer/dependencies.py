"""What the use cases work with, built once in app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from slipway_image_builder.domain.image import ContainerImageAggregate
from slipway_image_builder.domain.ports import BuildLogs, Engine, Progress
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_libs.unit_of_work import Repository, UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """Settings, the image repository, the ports, and a unit of work.

    A unit of work serves one task at a time, so every handler call and every periodic loop
    works on `for_one_task()`: a copy with a unit of work of its own.
    """

    settings: ImageBuilderSettings
    images: Repository[ContainerImageAggregate]
    engine: Engine
    logs: BuildLogs
    progress: Progress
    unit_of_work: Callable[[], UnitOfWork]
    uow: UnitOfWork = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uow", self.unit_of_work())

    def for_one_task(self) -> Dependencies:
        """The same dependencies with a fresh unit of work."""
        return replace(self)
