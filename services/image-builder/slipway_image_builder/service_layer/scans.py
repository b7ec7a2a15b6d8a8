"""Scans: the scan job queued after each build (and on request, and periodically), its
outcome recorded with the policy applied, the SBOM kept, and both read back."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from slipway_contracts import subjects
from slipway_contracts.commands import ScanImage
from slipway_contracts.entities import ContainerImage, ImageScan, ImageStatus, ScanStatus
from slipway_contracts.jobs import ScanJob
from slipway_contracts.queries import GetImageSbom, GetImageScan
from slipway_image_builder.domain.image import ContainerImageAggregate, spec_of
from slipway_image_builder.domain.scan import summarize
from slipway_image_builder.service_layer.build_context import resolve_build_context
from slipway_image_builder.service_layer.dependencies import Dependencies
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import InvalidInput, NotFound
from slipway_libs.unit_of_work import UnitOfWork, idempotent, ok, retrying

SCAN_JOB = subjects.job(subjects.CONTAINER_IMAGE, "scan")


def queue_scan(uow: UnitOfWork, image: ContainerImageAggregate) -> None:
    """Queue the image's pending scan (one job per scan id)."""
    assert image.state.scan is not None
    job = ScanJob(image_id=image.id, scan_id=image.state.scan.scan_id)
    uow.queue_job(SCAN_JOB, job, msg_id=job.scan_id)


@idempotent
async def scan_image(deps: Dependencies, command: ScanImage) -> dict[str, Any]:
    """Scan a built image again: its scan becomes pending and a scan job is queued."""
    async with deps.uow:
        image = await deps.images.get(command.id)
        image.request_scan(context.new_id())
        queue_scan(deps.uow, image)
        return await deps.uow.commit(answer=image.snapshot())


def _dockerfile(deps: Dependencies, image: ContainerImage) -> Path | None:
    """The Dockerfile the image was built from, when its build context is still usable."""
    try:
        where = resolve_build_context(spec_of(image), deps.settings.build_roots)
    except InvalidInput:
        return None
    return where.directory / where.dockerfile


async def run_scan(deps: Dependencies, job: ScanJob) -> None:
    """Scan the image of `job`, keep its SBOM and record the outcome; a job for a deleted,
    rebuilt or already scanned image changes nothing."""
    image = await deps.images.find(job.image_id)
    if image is None or image.state.scan is None or not image.awaits_scan(job.scan_id):
        return
    report = await deps.scanner.scan(image.state.reference, _dockerfile(deps, image.state))
    if report.sbom is not None:
        await deps.sboms.keep(image.id, job.scan_id, report.sbom)
    scan = summarize(
        report,
        scan_id=job.scan_id,
        requested_at=image.state.scan.requested_at,
        scanned_at=utcnow(),
        user=image.state.user,
        sbom_kept=report.sbom is not None,
    )
    await retrying(partial(_record_scan, deps, job.image_id, scan))


async def _record_scan(deps: Dependencies, image_id: str, scan: ImageScan) -> None:
    async with deps.uow:
        image = await deps.images.find(image_id)
        if image is not None:
            image.scanned(scan, deps.settings.image_policy)
            await deps.uow.commit()


async def give_up_scan(deps: Dependencies, job: ScanJob, reason: str) -> None:
    """The scan could not be made: the image's scan is `failed` with `reason`."""
    await retrying(partial(_record_scan_failure, deps, job, reason))


async def _record_scan_failure(deps: Dependencies, job: ScanJob, reason: str) -> None:
    async with deps.uow:
        image = await deps.images.find(job.image_id)
        if image is not None:
            image.scan_failed(job.scan_id, reason)
            await deps.uow.commit()


async def rescan_images(deps: Dependencies) -> int:
    """Queue a scan of every built image last scanned over `rescan_interval_s` ago (or never);
    how many."""
    cutoff = utcnow() - timedelta(seconds=deps.settings.rescan_interval_s)
    queued = 0
    for image in await deps.images.matching(status=ImageStatus.BUILT):
        scan = image.state.scan
        if scan is not None and (scan.status is ScanStatus.PENDING or scan.requested_at > cutoff):
            continue
        await retrying(partial(_request_rescan, deps, image.id))
        queued += 1
    return queued


async def _request_rescan(deps: Dependencies, image_id: str) -> None:
    async with deps.uow:
        image = await deps.images.find(image_id)
        if image is not None and image.status == ImageStatus.BUILT:
            image.request_scan(context.new_id())
            queue_scan(deps.uow, image)
            await deps.uow.commit()


async def read_scan(deps: Dependencies, query: GetImageScan) -> dict[str, Any]:
    """An image's latest scan (null when it has none yet)."""
    image = await deps.images.get(query.id)
    scan = image.state.scan.model_dump(mode="json") if image.state.scan else None
    reference = image.state.reference
    return ok({"id": image.id, "reference": reference, "status": image.status, "scan": scan})


async def read_sbom(deps: Dependencies, query: GetImageSbom) -> dict[str, Any]:
    """The CycloneDX SBOM of an image's latest scan; NotFound when none is kept."""
    image = await deps.images.get(query.id)
    scan = image.state.scan
    document = await deps.sboms.read(image.id)
    if document is None:
        state = scan.status if scan else "none"
        raise NotFound(
            f"image '{image.id}' has no SBOM yet (scan status: {state}); "
            "one is made by each scan of a built image"
        )
    return ok(json.loads(document))
