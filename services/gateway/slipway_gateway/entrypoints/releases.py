"""`/api/releases`: install a Helm chart onto a cluster, upgrade, roll back, preview,
read its history and manifest, and uninstall it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import JSONResponse, Response

from slipway_contracts import subjects
from slipway_contracts.commands import RELEASE_COMMANDS, ReleaseSpec, RollbackRelease
from slipway_contracts.entities import Release, ReleaseRevision, ReleaseStatus
from slipway_contracts.queries import Preview
from slipway_gateway.entrypoints.http import Bus, CommandId, IfMatch, entity_response, problems
from slipway_gateway.entrypoints.resources import Resource, ResourceRoutes, request_body

RELEASES = Resource(
    entity=subjects.RELEASE,
    path="/api/releases",
    model=Release,
    statuses=ReleaseStatus,
    noun="release",
    tag="releases",
    commands=RELEASE_COMMANDS,
)
Rollback = request_body(RollbackRelease, "Rollback", "The helm revision to return to.")
DryRun = Annotated[
    bool,
    Query(
        description="answer with the rendered manifest and its diff against what is live, "
        "changing nothing"
    ),
]
YAML = "application/yaml"

routes = ResourceRoutes(RELEASES)
router = routes.router


@router.post(
    "",
    status_code=202,
    response_model=Release,
    responses={200: {"model": Preview, "description": "With `dry_run=true`: the preview"}},
    name="create_release",
)
async def create_release(
    body: ReleaseSpec, bus: Bus, command_id: CommandId, dry_run: DryRun = False
) -> JSONResponse:
    """Install a `valid` chart onto a `running` cluster with helm (202; `pending` until every
    workload it renders is available, then `deployed`, or `failed` with the reason). Each
    `images` entry sets a built image's reference at a values path. A release of the same
    name, namespace and cluster previews as its upgrade."""
    fields = body.model_dump(mode="json")
    if dry_run:
        return JSONResponse(await RELEASES.query(bus, "preview", {"spec": fields}))
    entity = await RELEASES.command(bus, "create", fields, command_id)
    return entity_response(entity, 202, RELEASES.location(entity["id"]))


routes.declare(
    "create",
    "Install a valid chart onto a running cluster with helm (202; pending until every "
    "workload it renders is available, then deployed, or failed with the reason). Each "
    "`images` entry sets a built image's reference at a values path.",
)
routes.add_list()
routes.add_get()


@router.put(
    "/{release_id}",
    status_code=202,
    response_model=Release,
    responses={200: {"model": Preview, "description": "With `dry_run=true`: the preview"}},
    name="replace_release",
)
async def upgrade_release(
    release_id: str,
    body: ReleaseSpec,
    bus: Bus,
    command_id: CommandId,
    revision: IfMatch,
    dry_run: DryRun = False,
) -> JSONResponse:
    """Upgrade with new values, images or chart (202, `updating`, then `deployed` at helm's
    next revision, or `failed`)."""
    fields = body.model_dump(mode="json")
    if dry_run:
        preview = await RELEASES.query(bus, "preview", {"id": release_id, "spec": fields})
        return JSONResponse(preview)
    payload: dict[str, Any] = {**fields, "id": release_id, "expected_revision": revision}
    entity = await RELEASES.command(bus, "update", payload, command_id)
    return entity_response(entity, 202, RELEASES.location(release_id))


routes.declare("update", "Upgrade with new values, images or chart (202, updating).")
routes.add_action(
    "rollback",
    "Return to an earlier helm revision, with its images and values (202, `updating`).",
    body=Rollback,
)
routes.add_accepted_delete(
    "Uninstall the release with helm (202); it turns `uninstalled` and its Deployments "
    "and Services are removed."
)


@router.get("/{release_id}/history", response_model=list[ReleaseRevision])
async def release_history(release_id: str, bus: Bus) -> JSONResponse:
    """helm's revisions of the release, oldest first."""
    return JSONResponse(await RELEASES.query(bus, "history", {"id": release_id}))


@router.get(
    "/{release_id}/manifest",
    response_class=Response,
    responses={
        200: {"content": {YAML: {}}, "description": "The rendered manifest"},
        **problems(409),  # uninstalled, or its cluster is not running
    },
)
async def release_manifest(release_id: str, bus: Bus) -> Response:
    """The manifest of the release's current revision, as helm rendered it."""
    reply = await RELEASES.query(bus, "manifest", {"id": release_id})
    text = reply["manifest"] if isinstance(reply, dict) else str(reply)
    return Response(text, media_type=YAML)
