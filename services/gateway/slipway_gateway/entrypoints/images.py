"""`/api/container-images`: register, rebuild, read, verify, scan and delete images; their
build logs, scans and SBOMs."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from slipway_contracts import subjects
from slipway_contracts.commands import IMAGE_COMMANDS, ImageSpec
from slipway_contracts.entities import ContainerImage, ImageScan, ImageStatus
from slipway_gateway.entrypoints.build_logs import build_log_lines, log_events, log_text
from slipway_gateway.entrypoints.http import Bus
from slipway_gateway.entrypoints.resources import Resource, ResourceRoutes, StatusRule
from slipway_gateway.entrypoints.streaming import EVENT_STREAM, ClosingStream

IMAGES = Resource(
    entity=subjects.CONTAINER_IMAGE,
    path="/api/container-images",
    model=ContainerImage,
    statuses=ImageStatus,
    noun="image",
    tag="container images",
    commands=IMAGE_COMMANDS,
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


@router.get(
    "/{image_id}/logs",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}, EVENT_STREAM: {}}}},
)
async def image_logs(
    request: Request,
    image_id: str,
    bus: Bus,
    follow: Annotated[
        bool, Query(description="stream the lines as they come, until the build ends")
    ] = False,
    accept: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, description="resume after this line")
    ] = None,
) -> Response:
    """The log of the image's latest build, one line per engine output line. With
    `follow=true` it streams: the lines kept so far, then each new one, until the build
    ends; as server-sent events (`event: line`, `id` = the line's number, then one
    `event: end` with the image's status and reason) when `Accept: text/event-stream`;
    `Last-Event-ID` resumes after that line."""
    from_line = 0 if last_event_id is None or not follow else last_event_id + 1
    log = await IMAGES.query(bus, "logs", {"id": image_id, "from_line": from_line})
    if not follow:
        return PlainTextResponse("\n".join(log["lines"]) + ("\n" if log["lines"] else ""))
    interval_s = request.app.state.settings.log_follow_interval_s
    lines = build_log_lines(partial(IMAGES.query, bus, "logs"), image_id, log, interval_s)
    if accept and EVENT_STREAM in accept:
        return ClosingStream(log_events(lines))
    return ClosingStream(log_text(lines), media_type="text/plain; charset=utf-8")
