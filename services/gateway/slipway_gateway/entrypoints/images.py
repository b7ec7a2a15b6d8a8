"""`/api/container-images`: register, rebuild, read, verify, scan and delete images; their
build logs, scans and SBOMs."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from slipway_contracts import subjects
from slipway_contracts.commands import ImageSpec
from slipway_contracts.entities import ContainerImage, ImageScan, ImageStatus
from slipway_gateway.entrypoints.http import Bus
from slipway_gateway.entrypoints.resources import Resource, ResourceRoutes, StatusRule

IMAGES = Resource(
    entity=subjects.CONTAINER_IMAGE,
    path="/api/container-images",
    model=ContainerImage,
    statuses=ImageStatus,
    noun="image",
    tag="container images",
)


# A plain BaseModel, not a contract Model: unknown query parameters stay ignored, as before.
class DeleteOptions(BaseModel):
    """The query parameters of `DELETE /api/container-images/{image_id}`."""

    remove_image: bool = Field(False, description="also remove the image from the engine")


# A replace that changes the name, tag or build spec rebuilds the image: that runs on (202).
REBUILDING_OR_DONE = StatusRule(
    lambda spec, image: 202 if image["status"] == ImageStatus.BUILDING else 200,
    (200, 202),
    others=None,
)

routes = ResourceRoutes(IMAGES)
routes.add_create(
    ImageSpec, "Register an image and queue its build (202; poll it or watch the events)."
)
routes.add_list("Images oldest first; pass `next_cursor` back as `cursor` for the next page.")
routes.add_get()
routes.add_replace(
    ImageSpec,
    "Replace the spec; a new name, tag or build spec rebuilds the image (202).",
    status=REBUILDING_OR_DONE,
)
routes.add_delete(options=DeleteOptions)
# A check, not a change: any revision may be verified, and the answer is the image as it is.
routes.add_action(
    "verify",
    "Check now that a built image still exists in the engine (else it becomes failed).",
    status=200,
    if_match=False,
    location=False,
)
# Queues a scan: the answer is the image, its scan pending (poll GET .../scan).
routes.add_action(
    "scan",
    "Scan a built image again (202): secrets, misconfigurations, vulnerabilities when a "
    "database is there, the non-root policy; then GET .../scan.",
    status=202,
    if_match=False,
)
router = routes.router


class ScanAnswer(BaseModel):
    """An image's latest security scan (`scan` is null before its first one)."""

    id: str
    reference: str
    status: ImageStatus
    scan: ImageScan | None


@router.get("/{image_id}/scan", response_model=ScanAnswer)
async def image_scan(image_id: str, bus: Bus) -> Any:
    """The image's latest scan: status, counts by severity, findings (a secret is named by
    rule, file and layer; its value is never kept), and what could not be checked and why."""
    return await IMAGES.query(bus, "scan", {"id": image_id})


@router.get(
    "/{image_id}/sbom",
    response_class=JSONResponse,
    responses={200: {"content": {"application/vnd.cyclonedx+json": {}}}},
)
async def image_sbom(image_id: str, bus: Bus) -> JSONResponse:
    """The CycloneDX JSON SBOM that the image's latest scan made (404 before one)."""
    document = await IMAGES.query(bus, "sbom", {"id": image_id})
    return JSONResponse(document, media_type="application/vnd.cyclonedx+json")


@router.get("/{image_id}/logs", response_class=PlainTextResponse)
async def image_logs(image_id: str, bus: Bus) -> PlainTextResponse:
    """The log of the image's latest build, one line per engine output line."""
    log = await IMAGES.query(bus, "logs", {"id": image_id})
    return PlainTextResponse("\n".join(log["lines"]) + ("\n" if log["lines"] else ""))
