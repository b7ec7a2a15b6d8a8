"""`/api/container-images`: register, rebuild, read, verify and delete images."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from slipway_contracts import subjects
from slipway_contracts.commands import ImageSpec
from slipway_contracts.entities import ContainerImage, ImageStatus
from slipway_contracts.queries import Page
from slipway_gateway.entrypoints.http import (
    PROBLEM_RESPONSES,
    Bus,
    CommandId,
    IfMatch,
    entity_response,
    no_content,
)

router = APIRouter(
    prefix="/api/container-images", tags=["container images"], responses=PROBLEM_RESPONSES
)
IMAGE = subjects.CONTAINER_IMAGE


def location(image_id: str) -> str:
    return f"{router.prefix}/{image_id}"


@router.post("", status_code=202, response_model=ContainerImage)
async def create_image(spec: ImageSpec, bus: Bus, command_id: CommandId) -> JSONResponse:
    """Register an image and queue its build (202; poll it or watch the events)."""
    image = await bus.request(
        subjects.command(IMAGE, "create"), spec.model_dump(mode="json"), command_id
    )
    return entity_response(image, 202, location(image["id"]))


@router.get("", response_model=Page)
async def list_images(
    bus: Bus,
    status: ImageStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    """Images oldest first; pass `next_cursor` back as `cursor` for the next page."""
    page = await bus.request(
        subjects.query(IMAGE, "list"), {"status": status, "cursor": cursor, "limit": limit}
    )
    return JSONResponse(page)


@router.get("/{image_id}", response_model=ContainerImage)
async def get_image(image_id: str, bus: Bus) -> JSONResponse:
    return entity_response(await bus.request(subjects.query(IMAGE, "get"), {"id": image_id}))


@router.put(
    "/{image_id}", response_model=ContainerImage, responses={202: {"model": ContainerImage}}
)
async def replace_image(
    image_id: str, spec: ImageSpec, bus: Bus, command_id: CommandId, revision: IfMatch
) -> JSONResponse:
    """Replace the spec; a new name, tag or build spec rebuilds the image (202)."""
    payload = {**spec.model_dump(mode="json"), "id": image_id, "expected_revision": revision}
    image = await bus.request(subjects.command(IMAGE, "update"), payload, command_id)
    rebuilding = image["status"] == ImageStatus.BUILDING
    return entity_response(image, 202 if rebuilding else 200, location(image_id))


@router.delete("/{image_id}", status_code=204)
async def delete_image(
    image_id: str,
    bus: Bus,
    command_id: CommandId,
    revision: IfMatch,
    remove_image: Annotated[
        bool, Query(description="also remove the image from the engine")
    ] = False,
) -> Response:
    payload = {"id": image_id, "expected_revision": revision, "remove_image": remove_image}
    await bus.request(subjects.command(IMAGE, "delete"), payload, command_id)
    return no_content()


@router.post("/{image_id}/verify", response_model=ContainerImage)
async def verify_image(image_id: str, bus: Bus, command_id: CommandId) -> JSONResponse:
    """Check now that a built image still exists in the engine (else it becomes failed)."""
    return entity_response(
        await bus.request(subjects.command(IMAGE, "verify"), {"id": image_id}, command_id)
    )


@router.get("/{image_id}/logs", response_class=PlainTextResponse)
async def image_logs(image_id: str, bus: Bus) -> PlainTextResponse:
    """The log of the image's latest build, one line per engine output line."""
    log = await bus.request(subjects.query(IMAGE, "logs"), {"id": image_id})
    return PlainTextResponse("\n".join(log["lines"]) + ("\n" if log["lines"] else ""))
