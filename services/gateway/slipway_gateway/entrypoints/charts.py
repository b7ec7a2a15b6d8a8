"""`/api/helm-charts`: register, replace, re-validate, read and delete Helm charts."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from slipway_contracts import subjects
from slipway_contracts.commands import CHART_COMMANDS, ChartSpec
from slipway_contracts.entities import ChartStatus, HelmChart
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.entrypoints import http
from slipway_gateway.entrypoints.http import Bus, CommandId, IfMatch, entity_response
from slipway_gateway.entrypoints.resources import Resource, ResourceRoutes
from slipway_libs.errors import InvalidInput
from slipway_libs.requests import encode

CHARTS = Resource(
    entity=subjects.HELM_CHART,
    path="/api/helm-charts",
    model=HelmChart,
    statuses=ChartStatus,
    noun="chart",
    tag="helm charts",
    commands=CHART_COMMANDS,
)

MULTIPART = "multipart/form-data"
ARCHIVE_PART = "chart"  # the form's file part; its errors are named after it, not `source.archive`
ARCHIVE_FIELD = "source.archive"
# The command's NATS headers (correlation and command ids) travel in the same message.
HEADER_ALLOWANCE = 4 * 1024
CHUNK = 64 * 1024

UPLOAD_HELP = """
**Two request forms, one command.** Send JSON (`application/json`) with the chart as
`source.path` (a directory inside a chart root) or `source.archive` (a base64 `.tgz`), or
upload the packaged chart as `multipart/form-data`:

- file part `chart`: the `.tgz` (e.g. made by `helm package`), required;
- text fields `name`, `version`, `app_version` (required), `description`, `namespace`,
  `kubernetes_version`, with the same meaning and rules as in the JSON body;
- text field `values`: a JSON object overriding `values.yaml` (optional).

The gateway turns an upload into the JSON body it stands for (the file base64-encoded as
`source.archive`), so both forms are checked and answered alike; errors about the file
name the field `chart`.

**Size limit.** An archive may be at most the chart-validator's `SLIPWAY_ARCHIVE_MAX_BYTES`
(4 MiB by default), and the encoded command must fit in one message bus message (NATS
`max_payload`: 8 MiB in the embedded stack, NATS's own default is 1 MiB, about 750 KiB
of archive). A larger archive is a 422 naming `source.archive` (or `chart`) and the limit.
A request body over the gateway's `SLIPWAY_MAX_BODY_BYTES` (8 MiB by default: room for a
4 MiB archive base64-encoded in JSON) is refused with 413 before it is read.

```
curl -F chart=@mychart-0.1.0.tgz -F name=mychart -F version=0.1.0 -F app_version=1.0.0 \\
     -F 'values={"replicaCount": 2}' http://127.0.0.1:8080/api/helm-charts
```
"""


# --- multipart uploads --------------------------------------------------------------------


def multipart_schema() -> dict[str, Any]:
    """The upload form, derived from ChartSpec so the two request forms cannot drift apart."""
    spec = ChartSpec.model_json_schema()
    fields = {k: v for k, v in spec["properties"].items() if k != "source"}
    fields["values"] = {
        "type": "string",
        "title": "Values",
        "description": "a JSON object overriding values.yaml",
        "default": "{}",
    }
    fields[ARCHIVE_PART] = {
        "type": "string",
        "format": "binary",
        "contentMediaType": "application/gzip",
        "description": "the packaged chart (.tgz)",
    }
    required = [ARCHIVE_PART, *(f for f in spec["required"] if f != "source")]
    return {"type": "object", "properties": fields, "required": required}


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {"content": {MULTIPART: {"schema": multipart_schema()}}},
}


def invalid(field: str, message: str) -> dict[str, Any]:
    """One per-field error, shaped like pydantic's so the 422 handler treats it alike."""
    return {"type": "value_error", "loc": ("body", *field.split(".")), "msg": message}


async def read_upload(upload: UploadFile, limit: int) -> bytes | None:
    """The uploaded file's bytes, or None when it holds more than `limit` bytes."""
    data = bytearray()
    while chunk := await upload.read(CHUNK):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def text_fields(form: FormData, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The form's text fields as the JSON body's fields (`values` parsed as JSON)."""
    body: dict[str, Any] = {}
    for key in dict.fromkeys(form.keys()):
        if key == ARCHIVE_PART:
            continue
        given = form.getlist(key)
        if key == "source":
            errors.append(invalid(key, "not used in an upload: send the .tgz as file part 'chart'"))
        elif len(given) > 1:
            errors.append(invalid(key, "given more than once"))
        elif not isinstance(given[0], str):
            errors.append(
                invalid(key, f"must be a text field, not a file (curl: -F '{key}=<file')")
            )
        elif key == "values":
            try:
                body[key] = json.loads(given[0] or "{}")
            except json.JSONDecodeError as exc:
                errors.append(invalid(key, f"is not valid JSON ({exc.msg} at {exc.pos})"))
        else:
            body[key] = given[0]
    return body


async def archive_part(form: FormData, limit: int, errors: list[dict[str, Any]]) -> bytes | None:
    """The `chart` file part's bytes; None (with an error noted) when it is unusable."""
    given = form.getlist(ARCHIVE_PART)
    problem = None
    data = None
    if not given:
        problem = "is required: the packaged chart (.tgz) as a file part"
    elif len(given) > 1:
        problem = "given more than once"
    elif not isinstance(given[0], UploadFile):
        problem = "must be a file part (curl: -F chart=@mychart.tgz), not a text field"
    else:
        data = await read_upload(given[0], limit)
        if data is None:
            problem = f"the file is over the {limit} bytes the message bus can carry"
        elif not data:
            problem = "the file is empty"
    if problem:
        errors.append(invalid(ARCHIVE_PART, problem))
        return None
    return data


async def form_as_json(request: Request) -> bytes:
    """The JSON body a multipart upload stands for; 422 with every bad field otherwise."""
    # Base64 grows by 4/3: a file larger than this can never fit in one bus message.
    limit = (await http.bus(request)).max_payload * 3 // 4
    errors: list[dict[str, Any]] = []
    async with request.form(max_files=2, max_fields=32) as form:
        body = text_fields(form, errors)
        data = await archive_part(form, limit, errors)
    if errors:
        # Report the other fields' mistakes in the same answer, not one round-trip each.
        try:
            ChartSpec.model_validate({**body, "source": {"archive": "-"}})
        except ValidationError as exc:
            named = {e["loc"][1] for e in errors}
            errors += [
                {**e, "loc": ("body", *e["loc"])} for e in exc.errors() if e["loc"][0] not in named
            ]
        raise RequestValidationError(errors)
    body["source"] = {"archive": base64.b64encode(data or b"").decode()}
    return json.dumps(body).encode()


class ConvertedRequest(Request):
    """A multipart request presented as the JSON request it was converted into."""

    def __init__(self, original: Request, body: bytes) -> None:
        headers = [
            (k, v)
            for k, v in original.scope["headers"]
            if k not in (b"content-type", b"content-length")
        ]
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        super().__init__({**original.scope, "headers": headers}, original.receive)
        self._converted = body

    async def body(self) -> bytes:
        return self._converted


def as_upload_field(field: str) -> str:
    return ARCHIVE_PART if field in (ARCHIVE_FIELD, "source") else field


def renamed_errors(errors: Sequence[Any]) -> list[Any]:
    """Validation errors naming `chart` where the JSON form would say `source.archive`."""
    renamed = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc[:2] == ("body", "source"):
            loc = ("body", ARCHIVE_PART)
        renamed.append({**error, "loc": loc})
    return renamed


def renamed_invalid(exc: InvalidInput) -> InvalidInput:
    if not isinstance(exc.details, list):
        return exc
    details = [{**d, "field": as_upload_field(str(d.get("field")))} for d in exc.details]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return InvalidInput(message or exc.message, details)


class ChartUploadRoute(http.DocumentedRoute):
    """A chart route that also takes a multipart upload, converted into its JSON body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle_json = super().get_route_handler()

        async def handle(request: Request) -> Response:
            media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type != MULTIPART:
                return await handle_json(request)
            converted = ConvertedRequest(request, await form_as_json(request))
            try:
                return await handle_json(converted)
            except RequestValidationError as exc:
                raise RequestValidationError(renamed_errors(exc.errors())) from None
            except InvalidInput as exc:
                raise renamed_invalid(exc) from None

        return handle


async def send_spec(
    command_bus: CommandBus, action: str, payload: dict[str, Any], command_id: str
) -> Any:
    """Send a chart command, refusing up front one too large for the bus to carry."""
    limit = command_bus.max_payload
    data = encode(payload)
    size = len(data) + HEADER_ALLOWANCE
    if size > limit:
        archive = (payload.get("source") or {}).get("archive")
        if not archive:
            raise InvalidInput.field("body", f"the request is over the {limit} bytes allowed")
        try:
            archive_bytes = len(base64.b64decode(archive, validate=True))
        except (binascii.Error, ValueError):
            archive_bytes = len(archive) * 3 // 4
        room = max(limit - (size - len(archive)), 0) * 3 // 4
        raise InvalidInput.field(
            ARCHIVE_FIELD,
            f"the archive is {archive_bytes} bytes; at most {room} bytes fit in one message "
            f"bus message ({limit} bytes once base64-encoded, NATS max_payload)",
        )
    return await command_bus.request(subjects.command(CHARTS.entity, action), data, command_id)


# --- routes -------------------------------------------------------------------------------
# Create and replace are written out: they also take an upload and check the command's size.


async def create_chart(spec: ChartSpec, bus: Bus, command_id: CommandId) -> JSONResponse:
    chart = await send_spec(bus, "create", spec.model_dump(mode="json"), command_id)
    return entity_response(chart, 202, CHARTS.location(chart["id"]))


async def replace_chart(
    chart_id: str, spec: ChartSpec, bus: Bus, command_id: CommandId, revision: IfMatch
) -> JSONResponse:
    payload = {**spec.model_dump(mode="json"), "id": chart_id, "expected_revision": revision}
    chart = await send_spec(bus, "update", payload, command_id)
    return entity_response(chart, 202, CHARTS.location(chart_id))


routes = ResourceRoutes(CHARTS)
router = routes.router


def add_upload_route(
    method: str, path: str, endpoint: Callable[..., Any], description: str
) -> None:
    """A route taking a ChartSpec as JSON or as a multipart upload; it answers 202."""
    routes.declare("create" if method == "POST" else "update", description, send=send_spec)
    router.add_api_route(
        path,
        endpoint,
        methods=[method],
        status_code=202,
        response_model=HelmChart,
        description=description + "\n" + UPLOAD_HELP,
        openapi_extra=UPLOAD_BODY,
        route_class_override=ChartUploadRoute,
    )


add_upload_route(
    "POST",
    "",
    create_chart,
    "Register a chart and queue its validation (202; poll it or watch the events).",
)
routes.add_list("Charts oldest first; pass `next_cursor` back as `cursor` for the next page.")
routes.add_get()
add_upload_route(
    "PUT",
    "/{chart_id}",
    replace_chart,
    "Replace the spec; every change validates the chart again (202). The body is the same "
    "as POST's: JSON or a multipart upload.",
)
routes.add_delete()
routes.add_action(
    "validate",
    "Validate the chart again as its source is now, e.g. after its files changed (202).",
)
