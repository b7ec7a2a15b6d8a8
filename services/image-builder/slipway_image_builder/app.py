"""Composition root of the image-builder: settings, MongoDB, Docker, NATS, handlers."""

from __future__ import annotations

from functools import partial

from faststream import FastStream

from slipway_contracts import subjects
from slipway_contracts.entities import ContainerImage
from slipway_contracts.events import events_of
from slipway_contracts.jobs import BuildJob, ScanJob
from slipway_image_builder.adapters.build_logs import BuildLogStore
from slipway_image_builder.adapters.docker_engine import DockerEngine
from slipway_image_builder.adapters.hadolint import HadolintLinter
from slipway_image_builder.adapters.registry_credentials import (
    REGISTRY_SECRETS,
    SealedRegistryCredentials,
)
from slipway_image_builder.adapters.sbom_store import GridFSSbomStore
from slipway_image_builder.adapters.trivy_scanner import TrivyScanner
from slipway_image_builder.domain.image import ContainerImageAggregate
from slipway_image_builder.handlers import commands
from slipway_image_builder.handlers.context import DEPENDENCIES
from slipway_image_builder.handlers.jobs import job_router
from slipway_image_builder.service_layer import builds, scans, verification
from slipway_image_builder.service_layer.dependencies import Dependencies
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_keys.secrets import sealer_from
from slipway_libs.messaging import DeclaredPublishers
from slipway_libs.worker import WorkerKit, build_worker_app
from slipway_observability import metrics

SERVICE = "image-builder"
IMAGE = subjects.CONTAINER_IMAGE


def declare_publishers(publishers: DeclaredPublishers) -> None:
    publishers.declare_events(IMAGE, events_of(IMAGE))
    publishers.declare(
        subjects.job(IMAGE, "build"), subjects.JOBS_STREAM, BuildJob, "Build one image."
    )
    publishers.declare(
        subjects.job(IMAGE, "scan"), subjects.JOBS_STREAM, ScanJob, "Scan one image."
    )
    publishers.declare_progress(IMAGE)


async def assemble(kit: WorkerKit[ImageBuilderSettings]) -> None:
    settings = kit.settings
    logs = BuildLogStore(kit.database, settings.build_log_retention_days)
    kit.setup(logs.ensure_indexes)
    engine = DockerEngine(settings.docker_host, settings.build_timeout_s)
    trivy_cache = settings.trivy_cache_dir or settings.state_dir / "trivy"
    uow = kit.unit_of_work()
    deps = Dependencies(
        settings=settings,
        uow=uow,
        images=kit.repository("container_images", ContainerImage, ContainerImageAggregate, IMAGE),
        engine=engine,
        logs=logs,
        progress=kit.progress(IMAGE),
        scanner=TrivyScanner(engine, trivy_cache, settings.scan_timeout_s),
        sboms=GridFSSbomStore(kit.database),
        registry_credentials=SealedRegistryCredentials(
            uow, uow.db[REGISTRY_SECRETS], sealer_from(settings, settings.state_dir)
        ),
        linter=HadolintLinter(),
    )
    kit.set_global(DEPENDENCIES, deps)
    sweep = partial(builds.fail_overdue_builds, deps)
    kit.every(settings.reconcile_interval_s, sweep, "deadline sweep")
    verify = partial(verification.verify_built_images, deps)
    kit.every(settings.verify_interval_s, verify, "image verification")
    if settings.rescan_interval_s > 0:
        rescan = partial(scans.rescan_images, deps)
        kit.every(settings.rescan_interval_s, rescan, "periodic re-scan")
    if settings.metrics_port:
        findings = partial(metrics.sample_image_findings, kit.database.db["container_images"])
        kit.every(settings.metrics_interval_s, findings, "image findings")
    kit.log_when_ready(
        build_roots=[str(root) for root in settings.build_roots],
        image_policy=str(settings.image_policy),
        trivy_cache_dir=str(trivy_cache),
    )


def create_app(settings: ImageBuilderSettings | None = None) -> FastStream:
    settings = settings or ImageBuilderSettings()
    return build_worker_app(
        SERVICE,
        settings,
        database=settings.database,
        routers=[commands.handlers, job_router(settings)],
        declare_publishers=declare_publishers,
        assemble=assemble,
    )
