"""What the use cases work with, built once in app.py (handlers get it as FastStream
`Context`; unit tests build it from fakes of the same ports)."""

from __future__ import annotations

from dataclasses import dataclass

from slipway_image_builder.domain.image import ContainerImageAggregate
from slipway_image_builder.domain.ports import (
    BuildLogs,
    DockerfileLinter,
    Engine,
    Progress,
    RegistryCredentials,
    Sboms,
    Scanner,
)
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_libs.unit_of_work import Repository, UnitOfWork


@dataclass(frozen=True)
class Dependencies:
    """Settings, the image repository, the ports, and the unit of work (one serves every
    task: each `async with uow:` is the opening task's own transaction)."""

    settings: ImageBuilderSettings
    uow: UnitOfWork
    images: Repository[ContainerImageAggregate]
    engine: Engine
    logs: BuildLogs
    progress: Progress
    scanner: Scanner
    sboms: Sboms
    registry_credentials: RegistryCredentials
    linter: DockerfileLinter
