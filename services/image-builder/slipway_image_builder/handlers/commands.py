"""Request-reply handlers: one command or query in, its use case's reply out."""

from __future__ import annotations

from typing import Any

from slipway_contracts import subjects
from slipway_contracts.advice import AdviseBuild, AdviseDockerfile
from slipway_contracts.commands import BuildImage, DeleteImage, RebuildImage, ScanImage, VerifyImage
from slipway_contracts.queries import (
    GetBuildLogs,
    GetEntity,
    GetImageSbom,
    GetImageScan,
    GetPullSecret,
    ListEntities,
)
from slipway_image_builder.handlers.context import Deps
from slipway_image_builder.service_layer import advice, builds, images, scans, verification
from slipway_libs.worker import RequestHandlers

QUEUE = "image-builder"
handlers = RequestHandlers(QUEUE)
IMAGE = subjects.CONTAINER_IMAGE


@handlers.subscriber(subjects.command(IMAGE, "create"))
async def build_image(command: BuildImage, deps: Deps) -> dict[str, Any]:
    """Register an image and queue its build."""
    return await images.build_image(deps, command)


@handlers.subscriber(subjects.command(IMAGE, "update"))
async def rebuild_image(command: RebuildImage, deps: Deps) -> dict[str, Any]:
    """Replace an image's spec; a new tag or build spec rebuilds it."""
    return await images.rebuild_image(deps, command)


@handlers.subscriber(subjects.command(IMAGE, "delete"))
async def delete_image(command: DeleteImage, deps: Deps) -> dict[str, Any]:
    """Remove an image record (and the engine image when asked)."""
    return await images.delete_image(deps, command)


@handlers.subscriber(subjects.command(IMAGE, "verify"))
async def verify_image(command: VerifyImage, deps: Deps) -> dict[str, Any]:
    """Check that a built image still exists in the engine."""
    return await verification.verify_image(deps, command)


@handlers.subscriber(subjects.command(IMAGE, "scan"))
async def scan_image(command: ScanImage, deps: Deps) -> dict[str, Any]:
    """Scan a built image again (a scan job is queued)."""
    return await scans.scan_image(deps, command)


@handlers.subscriber(subjects.query(IMAGE, "get"))
async def get_image(query: GetEntity, deps: Deps) -> dict[str, Any]:
    return await images.get_image(deps, query)


@handlers.subscriber(subjects.query(IMAGE, "list"))
async def list_images(query: ListEntities, deps: Deps) -> dict[str, Any]:
    return await images.list_images(deps, query)


@handlers.subscriber(subjects.query(IMAGE, "logs"))
async def build_logs(query: GetBuildLogs, deps: Deps) -> dict[str, Any]:
    return await builds.read_build_log(deps, query)


@handlers.subscriber(subjects.pull_secret())
async def pull_secret(query: GetPullSecret, deps: Deps) -> dict[str, Any]:
    """The registry login of a pushed image, for the workload-manager's pull Secret."""
    return await images.pull_secret(deps, query)


@handlers.subscriber(subjects.query(IMAGE, "scan"))
async def image_scan(query: GetImageScan, deps: Deps) -> dict[str, Any]:
    return await scans.read_scan(deps, query)


@handlers.subscriber(subjects.query(IMAGE, "sbom"))
async def image_sbom(query: GetImageSbom, deps: Deps) -> dict[str, Any]:
    return await scans.read_sbom(deps, query)


@handlers.subscriber(subjects.ADVISE_DOCKERFILE)
async def advise_dockerfile(query: AdviseDockerfile, deps: Deps) -> dict[str, Any]:
    """Review a build context's Dockerfile (or propose one) with a Dockerfile that builds."""
    return await advice.advise_dockerfile(deps, query)


@handlers.subscriber(subjects.ADVISE_BUILD)
async def advise_build(query: AdviseBuild, deps: Deps) -> dict[str, Any]:
    """Why an image's build failed: the failing step, the likely cause and the fix."""
    return await advice.advise_build(deps, query)
