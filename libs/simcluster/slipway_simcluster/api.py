"""HTTP routes of the simulated API server: the Kubernetes REST subset and /simulated/v1."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from slipway_simcluster import pod_metrics, protobuf, resources, tables
from slipway_simcluster.cluster import SimulatedCluster
from slipway_simcluster.errors import (
    ApiError,
    bad_request,
    method_not_allowed,
    not_found,
    unauthorized,
    unsupported_media_type,
)
from slipway_simcluster.images import ImageArchiveError, read_image_archive
from slipway_simcluster.meta import FieldSelector, LabelSelector, load_yaml
from slipway_simcluster.openapi import document_hash
from slipway_simcluster.resources import PODS, ResourceType
from slipway_simcluster.validation import check_fields

log = logging.getLogger(__name__)

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
# Like a real cluster's system:public-info-viewer: health and version need no token.
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
DEFAULT_WATCH_SECONDS = 1800
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _json(obj: Any, status_code: int = 200, media_type: str = JSON) -> Response:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return Response(body, status_code=status_code, media_type=media_type)


def _error(error: ApiError) -> Response:
    return _json(error.status(), error.code)


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1", "")


class KubernetesApi:
    """Request handlers bound to one simulated cluster."""

    def __init__(self, cluster: SimulatedCluster) -> None:
        self.cluster = cluster
        self._token = cluster.config.token.encode()

    async def dispatch(self, request: Request) -> Response:
        """Route one request; every failure becomes a Kubernetes Status."""
        try:
            path = request.url.path.rstrip("/") or "/"
            # As on a real cluster, anonymous requests may read health and version, but a
            # request presenting a wrong token is refused everywhere.
            if path in PUBLIC_PATHS and "authorization" not in request.headers:
                return self._public(path, request)
            self._authenticate(request)
            if path in PUBLIC_PATHS:
                return self._public(path, request)
            if path.startswith("/simulated/"):
                return await self._simulated(path, request)
            return await self._kubernetes(path, request)
        except ApiError as error:
            return _error(error)
        except Exception:
            log.exception("simulated API server: %s %s failed", request.method, request.url.path)
            return _error(ApiError(500, "InternalError", "simulated API server: internal error"))

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._token
        ):
            raise unauthorized()

    def _public(self, path: str, request: Request) -> Response:
        if path == "/version":
            return _json(self.cluster.version_info())
        if not self.cluster.ready:
            return Response(
                f"[-]{path[1:]} failed: simulated cluster not started\n",
                500,
                media_type="text/plain",
            )
        if "verbose" in request.query_params:
            return Response(f"[+]ping ok\n{path[1:]} check passed\n", media_type="text/plain")
        return Response("ok", media_type="text/plain")

    # /simulated/v1: what minikube offers beyond the API (image load, tunnel).

    async def _simulated(self, path: str, request: Request) -> Response:
        if path == "/simulated/v1/images" and request.method == "GET":
            return _json({"images": self.cluster.images.snapshot()})
        if path == "/simulated/v1/images/load" and request.method == "POST":
            return await self._load_images(request)
        if path == "/simulated/v1/tunnel":
            if request.method == "POST":
                body = _parse_body(await request.body())
                if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
                    raise bad_request('expected {"enabled": true|false}')
                self.cluster.set_tunnel(body["enabled"])
            elif request.method != "GET":
                raise method_not_allowed()
            return _json({"enabled": self.cluster.tunnel_enabled})
        if path in ("/simulated/v1/images", "/simulated/v1/images/load"):
            raise method_not_allowed()
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    async def _load_images(self, request: Request) -> Response:
        # Spool to disk: an image archive can be far larger than memory should hold.
        with tempfile.NamedTemporaryFile(
            dir=self.cluster.config.state_dir, prefix=".load-", suffix=".tar"
        ) as spool:
            async for chunk in request.stream():
                spool.write(chunk)
            spool.flush()
            try:
                pairs = await asyncio.to_thread(read_image_archive, Path(spool.name))
            except ImageArchiveError as error:
                raise bad_request(f"simulated cluster: cannot load images: {error}") from None
        loaded = self.cluster.images.add(pairs)
        log.info("simulated cluster: loaded images %s", ", ".join(image.name for image in loaded))
        return _json({"loaded": [image.name for image in loaded]})

    # Kubernetes API paths.

    async def _kubernetes(self, path: str, request: Request) -> Response:
        segments = [s for s in path.split("/") if s]
        if request.method == "GET":
            if segments[:1] == ["openapi"]:
                return self._openapi(segments, request)
            accept = request.headers.get("accept", "")
            if segments in (["api"], ["apis"]) and resources.wants_aggregated_discovery(accept):
                listing = self.catalog.aggregated_discovery(core=segments == ["api"])
                return _json(listing, media_type=resources.AGGREGATED_DISCOVERY_CONTENT_TYPE)
            discovery = self._discovery(segments, request)
            if discovery is not None:
                return _json(discovery)
        if segments[:3] == ["apis", "metrics.k8s.io", "v1beta1"] and request.method == "GET":
            return self._pod_metrics(segments[3:], request)
        if len(segments) >= 2 and segments[0] == "api" and segments[1] == "v1":
            group, version, rest = "", "v1", segments[2:]
        elif len(segments) >= 3 and segments[0] == "apis":
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            raise _not_found()
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise _not_found()
        rt = self.catalog.find(group, version, rest[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise _not_found()
        name = rest[1] if len(rest) > 1 else None
        subresource = rest[2] if len(rest) > 2 else None
        if name is not None and rt.namespaced and namespace is None:
            raise _not_found()
        if subresource is not None and subresource not in rt.subresources:
            raise _not_found()
        if name is None:
            return await self._collection(request, rt, namespace)
        return await self._object(request, rt, namespace or "", name, subresource)

    @property
    def catalog(self) -> resources.Catalog:
        """The resource types this cluster serves (built-in and custom)."""
        return self.cluster.store.catalog

    def _discovery(self, segments: list[str], request: Request) -> dict[str, Any] | None:
        if segments == ["api"]:
            return resources.api_versions(request.headers.get("host", "127.0.0.1"))
        if segments == ["api", "v1"]:
            return self.catalog.api_resource_list("v1")
        if segments == ["apis"]:
            return self.catalog.api_group_list()
        if len(segments) == 2 and segments[0] == "apis":
            group = self.catalog.api_group(segments[1])
            if group is None:
                raise _not_found()
            return group
        if len(segments) == 3 and segments[0] == "apis":
            listing = self.catalog.api_resource_list(f"{segments[1]}/{segments[2]}")
            if listing is None:
                raise _not_found()
            return listing
        return None

    def _openapi(self, segments: list[str], request: Request) -> Response:
        openapi = self.cluster.openapi
        if segments == ["openapi", "v2"]:
            accept = request.headers.get("accept", "")
            if accept and not any(t in accept for t in ("json", "*/*")):
                raise ApiError(
                    406,
                    "NotAcceptable",
                    "the simulated cluster serves /openapi/v2 as application/json only "
                    "(/openapi/v3 describes every group version)",
                )
            return _json(openapi.v2())
        if segments == ["openapi", "v3"]:
            return _json(openapi.v3_root())
        if segments[:2] != ["openapi", "v3"]:
            raise _not_found()
        document = openapi.v3_document("/".join(segments[2:]))
        if document is None:
            raise _not_found()
        response = _json(document)
        digest = document_hash(document)
        response.headers["ETag"] = f'"{digest}"'
        # A document is immutable under its hash, as on a real server: clients cache it.
        immutable = request.query_params.get("hash") == digest
        response.headers["Cache-Control"] = (
            "public, immutable" if immutable else "no-cache, private"
        )
        return response

    async def _collection(
        self, request: Request, rt: ResourceType, namespace: str | None
    ) -> Response:
        params = request.query_params
        registry = self.cluster.registry
        if request.method == "GET":
            if _flag(params.get("watch")):
                return self._watch(request, rt, namespace)
            return self._list(request, rt, namespace)
        if request.method == "POST":
            body = await _json_body(request)
            warnings = self._check_fields(request, rt, body)
            created = registry.create(
                rt,
                namespace,
                body,
                dry_run=_dry_run(request),
                field_manager=_field_manager(request),
            )
            return _warn(_json(created, 201), warnings)
        if request.method == "DELETE":
            labels = LabelSelector.parse(params.get("labelSelector"))
            fields = FieldSelector.parse(params.get("fieldSelector"))
            options = _delete_options(request, await request.body())
            result = registry.delete_collection(
                rt, namespace, labels, fields.matches, options, dry_run=_dry_run(request)
            )
            return _json(result)
        raise method_not_allowed()

    async def _object(
        self, request: Request, rt: ResourceType, namespace: str, name: str, subresource: str | None
    ) -> Response:
        registry, store = self.cluster.registry, self.cluster.store
        method = request.method
        if subresource == "log":
            if method != "GET":
                raise method_not_allowed()
            return self._pod_log(request, namespace, name)
        if subresource == "scale":
            if method == "GET":
                return _json(registry.get_scale(rt, namespace, name))
            if method == "PUT":
                body = await _json_body(request)
                scale = registry.update_scale(
                    rt,
                    namespace,
                    name,
                    body,
                    dry_run=_dry_run(request),
                    field_manager=_field_manager(request),
                )
                return _json(scale)
            if method == "PATCH":
                scale = registry.patch_scale(
                    rt,
                    namespace,
                    name,
                    await request.body(),
                    request.headers.get("content-type", ""),
                    dry_run=_dry_run(request),
                    field_manager=_field_manager(request),
                )
                return _json(scale)
            raise method_not_allowed()
        if method == "GET":
            obj = store.get(rt, namespace, name)
            if tables.wants_table(request.headers.get("accept", "")) and subresource is None:
                table = tables.to_table(
                    rt.kind,
                    [obj],
                    {"resourceVersion": obj["metadata"]["resourceVersion"]},
                    _include(request),
                )
                return _json(table, media_type=tables.TABLE_CONTENT_TYPE)
            return _json(obj)
        if method == "PUT":
            body = await _json_body(request)
            warnings = self._check_fields(request, rt, body)
            updated = registry.update(
                rt,
                namespace,
                name,
                body,
                subresource=subresource,
                dry_run=_dry_run(request),
                field_manager=_field_manager(request),
            )
            return _warn(_json(updated), warnings)
        if method == "PATCH":
            body = await request.body()
            warnings = self._check_fields(request, rt, _patch_document(request, body))
            patched, created = registry.patch(
                rt,
                namespace,
                name,
                body,
                request.headers.get("content-type", ""),
                subresource=subresource,
                field_manager=_field_manager(request, apply=True),
                force=_flag(request.query_params.get("force")),
                dry_run=_dry_run(request),
            )
            return _warn(_json(patched, 201 if created else 200), warnings)
        if method == "DELETE" and subresource is None:
            options = _delete_options(request, await request.body())
            return _json(registry.delete(rt, namespace, name, options, dry_run=_dry_run(request)))
        raise method_not_allowed()

    def _check_fields(self, request: Request, rt: ResourceType, body: Any) -> list[str]:
        """Unknown fields of a request body: 400 under `fieldValidation=Strict`, else warnings."""
        if body is None:
            return []
        schema = self.cluster.registry.schema(rt)
        return check_fields(rt, schema, body, request.query_params.get("fieldValidation"))

    def _list(self, request: Request, rt: ResourceType, namespace: str | None) -> Response:
        params = request.query_params
        labels = LabelSelector.parse(params.get("labelSelector"))
        fields = FieldSelector.parse(params.get("fieldSelector"))
        store = self.cluster.store
        items = [
            obj
            for obj in store.objects(rt, namespace)
            if labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)
        ]
        metadata: dict[str, Any] = {"resourceVersion": str(store.resource_version)}
        items, metadata = _paginate(items, params.get("limit"), params.get("continue"), metadata)
        if tables.wants_table(request.headers.get("accept", "")):
            table = tables.to_table(rt.kind, items, metadata, _include(request))
            return _json(table, media_type=tables.TABLE_CONTENT_TYPE)
        return _json(
            {
                "kind": f"{rt.kind}List",
                "apiVersion": rt.api_version,
                "metadata": metadata,
                "items": items,
            }
        )

    def _watch(self, request: Request, rt: ResourceType, namespace: str | None) -> Response:
        params = request.query_params
        labels = LabelSelector.parse(params.get("labelSelector"))
        fields = FieldSelector.parse(params.get("fieldSelector"))
        since = _watch_start(params.get("resourceVersion"))
        timeout = _positive_int(params.get("timeoutSeconds")) or DEFAULT_WATCH_SECONDS
        as_table = tables.wants_table(request.headers.get("accept", ""))
        include = _include(request)
        store = self.cluster.store
        try:
            watcher = store.watch(rt, namespace, labels, fields, since)
        except ApiError as error:
            if error.code != 410:
                raise
            # A real API server reports an expired resourceVersion inside the stream.
            line = json.dumps({"type": "ERROR", "object": error.status()}).encode() + b"\n"
            return Response(line, media_type=JSON)

        def encode(event_type: str, obj: dict[str, Any]) -> bytes:
            if as_table:
                obj = tables.to_table(
                    rt.kind, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include
                )
            return (
                json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode()
                + b"\n"
            )

        async def stream() -> AsyncIterator[bytes]:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            try:
                while True:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        return
                    try:
                        item = await asyncio.wait_for(watcher.queue.get(), remaining)
                    except TimeoutError:
                        return
                    if item is None:
                        return
                    chunk = [encode(*item)]
                    # Send what is already queued in one write.
                    while not watcher.queue.empty():
                        queued = watcher.queue.get_nowait()
                        if queued is None:
                            yield b"".join(chunk)
                            return
                        chunk.append(encode(*queued))
                    yield b"".join(chunk)
            finally:
                store.stop_watch(watcher)

        media_type = tables.TABLE_CONTENT_TYPE if as_table else JSON
        return StreamingResponse(stream(), media_type=media_type)

    def _pod_metrics(self, rest: list[str], request: Request) -> Response:
        """`metrics.k8s.io/v1beta1` pods: all, a namespace's, or one (as metrics-server)."""
        if rest == ["pods"]:
            pods = self.cluster.store.objects(PODS)
        elif len(rest) == 3 and rest[0] == "namespaces" and rest[2] == "pods":
            pods = self.cluster.store.objects(PODS, rest[1])
        elif len(rest) == 4 and rest[0] == "namespaces" and rest[2] == "pods":
            pod = self.cluster.store.peek(PODS, rest[1], rest[3])
            metrics = pod_metrics.pod_metrics(pod) if pod is not None else None
            if metrics is None:
                raise not_found("pods", "metrics.k8s.io", rest[3])
            return _json(metrics)
        else:
            raise _not_found()
        return _json(pod_metrics.pod_metrics_list(pods, request.query_params.get("labelSelector")))

    def _pod_log(self, request: Request, namespace: str, name: str) -> Response:
        pod = self.cluster.store.get(PODS, namespace, name)
        containers = (pod.get("spec") or {}).get("containers") or []
        wanted = request.query_params.get("container")
        if wanted is None:
            if len(containers) > 1:
                names = " ".join(c.get("name", "") for c in containers)
                raise bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{names}]"
                )
            wanted = containers[0].get("name", "") if containers else ""
        statuses = {
            s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []
        }
        status = statuses.get(wanted)
        if status is None and wanted not in {c.get("name") for c in containers}:
            raise bad_request(f"container {wanted} is not valid for pod {name}")
        running = ((status or {}).get("state") or {}).get("running")
        if running is None:
            reason = (((status or {}).get("state") or {}).get("waiting") or {}).get(
                "reason", "ContainerCreating"
            )
            raise bad_request(f'container "{wanted}" in pod "{name}" is waiting to start: {reason}')
        image = (status or {}).get("image", "")
        text = (
            f"{running.get('startedAt', '')} simulated cluster: container {wanted} started from image {image}\n"
            f"{running.get('startedAt', '')} simulated cluster: no application output is simulated\n"
        )
        return Response(text, media_type="text/plain")


def _not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


async def _json_body(request: Request) -> Any:
    """The request's JSON or YAML body; 415 for encodings only a real API server speaks."""
    media = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
    if media == PROTOBUF:
        try:
            return protobuf.decode_object(await request.body())
        except (protobuf.ProtobufError, ValueError) as error:
            raise protobuf.protobuf_error(str(error)) from None
    if media in YAML_TYPES:
        body = await request.body()
        if not body:
            raise bad_request("the request body is empty")
        try:
            return load_yaml(body)
        except yaml.YAMLError as error:
            raise bad_request(f"error decoding YAML: {error}") from None
    if media and media != JSON and not media.endswith("+json") and media != "*/*":
        raise unsupported_media_type(media)
    return _parse_body(await request.body())


def _parse_body(body: bytes) -> Any:
    if not body:
        raise bad_request("the request body is empty")
    try:
        return json.loads(body)
    except ValueError as error:
        raise bad_request(f"error decoding JSON: {error}") from None


def _patch_document(request: Request, body: bytes) -> Any:
    """The part of a patch that names fields (None for a JSON patch's operations)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media == "application/apply-patch+yaml":
            return load_yaml(body or b"{}")
        if media in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return json.loads(body or b"null")
    except (ValueError, yaml.YAMLError):
        return None  # the registry reports the malformed body
    return None


def _warn(response: Response, warnings: list[str]) -> Response:
    """Attach API warnings (`Warning: 299 - "…"`), which kubectl and client-go print."""
    for warning in warnings:
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.append("Warning", f'299 - "{escaped}"')
    return response


def _field_manager(request: Request, *, apply: bool = False) -> str | None:
    """Who writes: `fieldManager`, else (not for apply) the client's user agent product,
    as a real API server names managers (`kubectl`, `Helm`, `OpenAPI-Generator`)."""
    manager = request.query_params.get("fieldManager")
    if manager or apply:
        return manager or None
    agent = request.headers.get("user-agent", "").split("/", 1)[0].strip()
    return (agent or "unknown")[:128]


def _dry_run(request: Request) -> bool:
    return "All" in request.query_params.getlist("dryRun")


def _include(request: Request) -> str:
    return request.query_params.get("includeObject") or "Metadata"


def _delete_options(request: Request, body: bytes) -> dict[str, Any]:
    options: dict[str, Any] = {}
    media = request.headers.get("content-type", JSON).split(";")[0].strip().lower()
    if body and media == PROTOBUF:
        try:
            options.update(protobuf.decode_object(body))
        except (protobuf.ProtobufError, ValueError) as error:
            raise protobuf.protobuf_error(str(error)) from None
    elif body and (media == JSON or media.endswith("+json")):
        try:
            parsed = json.loads(body)
        except ValueError as error:
            raise bad_request(f"error decoding DeleteOptions: {error}") from None
        if isinstance(parsed, dict):
            options.update(parsed)
    policy = request.query_params.get("propagationPolicy")
    if policy:
        options["propagationPolicy"] = policy
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise bad_request(
            f"propagationPolicy {policy!r} is not one of Orphan, Background, Foreground"
        )
    return options


def _positive_int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"invalid integer {value!r}") from None
    return number if number > 0 else None


def _watch_start(value: str | None) -> int | None:
    if value in (None, "", "0"):
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid resourceVersion {value!r}") from None


def _paginate(
    items: list[dict[str, Any]], limit_text: str | None, token: str | None, metadata: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if token:
        try:
            start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(
                410, "Expired", "the provided continue parameter is too old or malformed"
            ) from None
        items = [obj for obj in items if _sort_key(obj) > tuple(start)]
    limit = _positive_int(limit_text)
    if limit is None or len(items) <= limit:
        return items, metadata
    page, remaining = items[:limit], len(items) - limit
    next_token = base64.urlsafe_b64encode(
        json.dumps({"start": list(_sort_key(page[-1]))}).encode()
    ).decode()
    return page, {**metadata, "continue": next_token, "remainingItemCount": remaining}


def _sort_key(obj: dict[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return (metadata.get("namespace", ""), metadata.get("name", ""))


def build_app(cluster: SimulatedCluster) -> Starlette:
    """The ASGI app serving one simulated cluster (start/stop are the caller's job)."""
    api = KubernetesApi(cluster)
    return Starlette(routes=[Route("/{path:path}", api.dispatch, methods=METHODS)])


__all__ = ["KubernetesApi", "build_app"]
