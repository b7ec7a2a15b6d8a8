"""`/api/container-images`: register, rebuild, read, verify and delete images."""

from __future__ import annotations

from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from slipway_contracts import subjects
from slipway_contracts.commands import ImageSpec
from slipway_contracts.entities import ContainerImage, ImageStatus
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
router = routes.router


@router.get("/{image_id}/logs", response_class=PlainTextResponse)
async def image_logs(image_id: str, bus: Bus) -> PlainTextResponse:
    """The log of the image's latest build, one line per engine output line."""
    log = await IMAGES.query(bus, "logs", {"id": image_id})
    return PlainTextResponse("\n".join(log["lines"]) + ("\n" if log["lines"] else ""))
