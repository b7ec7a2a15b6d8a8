"""`WorkloadCluster` through the official `kubernetes` client (synchronous, run in threads).

One `ApiClient` per cluster, built from the cluster's kubeconfig text and kept until that
text changes (a restarted cluster may come back on another port). Its connection pool
and the worker threads are sized together (`max_concurrent_calls`), so that many
rollouts at once queue in the executor instead of opening and dropping connections.
Rollouts are followed by one shared watch of Deployments per cluster and namespace (as
an informer does): each watch holds one thread of its own executor, and hands every change
to the rollouts waiting in that namespace, so a thousand rollouts at once cost the process
and the API server one watch, not a thousand.

Objects are read as raw JSON: the domain interprets them as the API returns them, and
nothing is lost to model conversion. Requests go through the client's `ApiClient`
(configuration, TLS, bearer auth, connection pool) by their REST paths rather than the
generated per-group API classes: those classes and their models, loaded on first use, cost
the process about 30 MB, and their argument validation CPU on every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import load_kube_config_from_dict
from kubernetes.watch.watch import iter_resp_lines

from slipway_observability import tracing

from ..domain.manifests import lacks_pod_security, namespace_manifest
from ..domain.ports import (
    LABEL_ID,
    LABEL_MANAGED_BY,
    MANAGED_BY,
    ClusterAccess,
    ClusterRejected,
    ClusterUnreachable,
    Manifest,
    PodReport,
    RolloutObservation,
    ServiceObservation,
)
from ..domain.rollout import interpret_deployment, interpret_service

T = TypeVar("T")
Json = dict[str, Any]

FIELD_MANAGER = "slipway"
APPLY_PATCH = "application/apply-patch+yaml"
# A single watch request never outlives this; a longer wait re-opens the watch, so a
# server that silently drops the connection costs at most this long.
_WATCH_CHUNK_SECONDS = 60
_LIST_PAGE = 500


class _Cancel:
    """Lets the event loop stop a watch that a worker thread is blocked in."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._response: Any = None

    def is_set(self) -> bool:
        return self._event.is_set()

    def track(self, response: Any) -> None:
        """The watch response a worker thread reads now (None once it is done with it)."""
        with self._lock:
            self._response = response
            if response is not None and self._event.is_set():
                _shut_down(response)

    def set(self) -> None:
        with self._lock:
            self._event.set()
            if self._response is not None:
                _shut_down(self._response)


def _shut_down(response: Any) -> None:
    """Shut the watch's socket down, so the read blocked on it returns (closing it instead
    would wait for the SSL lock that the blocked read holds)."""
    connection = getattr(response, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _status_message(error: ApiException) -> str:
    """The API server's own explanation (the Status `message`), else the HTTP reason."""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return str(error.reason or f"HTTP {error.status}")


def _translated(error: Exception, server: str) -> Exception:
    """ClusterUnreachable for what is worth retrying, ClusterRejected for a refusal."""
    if isinstance(error, ApiException):
        status = int(error.status or 0)
        message = _status_message(error)
        if status == 0 or status >= 500 or status == 429:
            return ClusterUnreachable(f"the API server at {server} failed: {message}")
        return ClusterRejected(message)
    return ClusterUnreachable(f"cannot reach the API server at {server}: {error}")


def _is_not_found(error: ApiException) -> bool:
    return int(error.status or 0) == 404


def _namespace_missing(error: ApiException) -> bool:
    """A 404 about the namespace (`namespaces "x" not found`), not about the object."""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        return False
    details = status.get("details") if isinstance(status, dict) else None
    return (
        _is_not_found(error) and isinstance(details, dict) and details.get("kind") == "namespaces"
    )


def _read_json(response: Any) -> Json:
    """The body of a raw (not preloaded) response as JSON; the connection goes back."""
    try:
        return dict(json.loads(response.data))
    finally:
        response.release_conn()


@dataclass(frozen=True)
class _Kind:
    """One kind of namespaced object Slipway manages: its apiVersion and REST paths."""

    api_version: str
    plural: str

    @property
    def base(self) -> str:
        return _group_path(self.api_version)

    def collection(self, namespace: str) -> str:
        return f"{self.base}/namespaces/{namespace}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{urllib.parse.quote(name, safe='')}"


_KINDS: dict[str, _Kind] = {
    "Deployment": _Kind("apps/v1", "deployments"),
    "Service": _Kind("v1", "services"),
    "NetworkPolicy": _Kind("networking.k8s.io/v1", "networkpolicies"),
    "ServiceAccount": _Kind("v1", "serviceaccounts"),
    "Secret": _Kind("v1", "secrets"),  # image pull Secrets; never listed or logged
}
_DEPLOYMENTS, _PODS, _EVENTS = _KINDS["Deployment"], _Kind("v1", "pods"), _Kind("v1", "events")


def _kind(kind: str) -> _Kind:
    if kind not in _KINDS:
        raise ValueError(f"Slipway does not manage objects of kind {kind!r}")
    return _KINDS[kind]


def _group_path(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def _namespace_path(name: str = "") -> str:
    return (
        f"/api/v1/namespaces/{urllib.parse.quote(name, safe='')}" if name else "/api/v1/namespaces"
    )


def _server_of(access: ClusterAccess) -> str:
    """Which API server a kubeconfig names (a restarted cluster may be another one)."""
    return hashlib.sha256(access.kubeconfig.encode()).hexdigest()


def _selector(labels: Mapping[str, Any]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


class KubernetesWorkloads:
    """Applies, observes and removes Slipway's objects with the official client.

    `max_concurrent_calls` bounds the short calls in flight (and sizes each cluster's
    connection pool to match); `max_watches` bounds the namespaces whose rollouts are
    watched at once (more wait in line: their deadline still counts from the call).
    Sixteen calls keep an API server busy (the simulated one answers one at a time; 50
    finished 1,000 rollouts no sooner) while each thread more costs the process memory.
    """

    def __init__(
        self,
        *,
        max_concurrent_calls: int = 16,
        max_watches: int = 256,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self._pool_size = max_concurrent_calls
        self._timeout = (connect_timeout, read_timeout)
        self._calls = ThreadPoolExecutor(max_concurrent_calls, thread_name_prefix="k8s-call")
        self._watches = ThreadPoolExecutor(max_watches, thread_name_prefix="k8s-watch")
        # (cluster id, namespace) -> the watch of its Deployments, while rollouts wait on it
        self._followed: dict[tuple[str, str], _SharedWatch] = {}
        self._followed_lock = threading.Lock()
        self._clients: dict[str, tuple[str, k8s.ApiClient]] = {}
        # (API server, group version) -> kind -> (plural, namespaced)
        self._discovery: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {}
        self._clients_lock = threading.Lock()
        # (cluster id, API server, namespace) seen to exist: a rollout into it skips the read
        # (an apply that finds it gone makes it again).
        self._namespaces: set[tuple[str, str, str]] = set()

    def close(self) -> None:
        """Stop the worker threads and close every cached client's connections."""
        self._calls.shutdown(wait=False, cancel_futures=True)
        self._watches.shutdown(wait=False, cancel_futures=True)
        with self._clients_lock:
            clients = [api for _, api in self._clients.values()]
            self._clients.clear()
        for api in clients:
            api.close()  # type: ignore[no-untyped-call]

    # --- clients and threads -------------------------------------------------------

    def _client(self, access: ClusterAccess) -> k8s.ApiClient:
        """The cached client of a cluster, rebuilt when its kubeconfig changes."""
        fingerprint = hashlib.sha256(access.kubeconfig.encode()).hexdigest()
        with self._clients_lock:
            cached = self._clients.get(access.cluster_id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
            try:
                document = yaml.safe_load(access.kubeconfig)
                configuration = k8s.Configuration()
                load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                    document, client_configuration=configuration, persist_config=False
                )
            except (ConfigException, yaml.YAMLError, TypeError, KeyError, ValueError) as error:
                raise ClusterRejected(
                    f"the kubeconfig of cluster {access.cluster_id} is unusable: {error}"
                ) from error
            configuration.connection_pool_maxsize = self._pool_size
            api = k8s.ApiClient(configuration)
            api.user_agent = "slipway-workload-manager"
            self._clients[access.cluster_id] = (fingerprint, api)
        if cached is not None:
            # In-flight requests finish; idle connections go.
            cached[1].close()  # type: ignore[no-untyped-call]
        return api

    async def _run(
        self,
        executor: ThreadPoolExecutor,
        access: ClusterAccess,
        work: Callable[[k8s.ApiClient], T],
    ) -> T:
        def call() -> T:
            api = self._client(access)
            try:
                return work(api)
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
                raise _translated(error, api.configuration.host) from error

        loop = asyncio.get_running_loop()
        name = getattr(work, "func", work).__name__.strip("_")  # a partial's function, or work's
        with tracing.span(f"kubernetes {name}", **{"slipway.cluster_id": access.cluster_id}):
            return await loop.run_in_executor(executor, call)

    async def _call(self, access: ClusterAccess, work: Callable[[k8s.ApiClient], T]) -> T:
        return await self._run(self._calls, access, work)

    def _request(
        self,
        api: k8s.ApiClient,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: Any = None,
    ) -> Any:
        """Send one request; the raw (unread) response. ApiException unless 2xx."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = api.param_serialize(
            method,
            path,
            query_params=[
                (key, value) for key, value in (query or {}).items() if value is not None
            ],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(*serialized, _request_timeout=timeout or self._timeout)
        if not 200 <= response.status <= 299:
            response.read()  # type: ignore[no-untyped-call]
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def _send(
        self,
        api: k8s.ApiClient,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Json:
        """Send one request for its JSON answer (blocking)."""
        return _read_json(self._request(api, method, path, query, body, content_type))

    # --- WorkloadCluster -----------------------------------------------------------

    async def ensure_namespace(self, access: ClusterAccess, namespace: str) -> None:
        """Create the namespace unless it exists, labelled as Slipway's and for Pod Security
        Admission `restricted`; one Slipway created before it had those labels gets them."""

        known = (access.cluster_id, _server_of(access), namespace)
        if known not in self._namespaces:
            await self._call(access, partial(self._ensure_namespace, namespace=namespace))
            self._namespaces.add(known)

    async def apply(self, access: ClusterAccess, manifest: Manifest) -> None:
        """Server-side apply (field manager `slipway`, forced: Slipway owns its fields); a
        namespace found missing (deleted since it was ensured) is made again."""
        await self._call(access, partial(self._apply, access=access, manifest=manifest))

    def _apply(
        self, api: k8s.ApiClient, access: ClusterAccess, manifest: Manifest, answer: bool = False
    ) -> Json | None:
        """Apply into the manifest's namespace, made again if found missing; the object as
        the API server answered (when `answer`)."""
        namespace = str((manifest.get("metadata") or {}).get("namespace") or "")
        try:
            return self._server_side_apply(api, manifest, answer)
        except ApiException as error:
            if not (namespace and _namespace_missing(error)):
                raise
            self._namespaces.discard((access.cluster_id, _server_of(access), namespace))
            self._ensure_namespace(api, namespace)
            return self._server_side_apply(api, manifest, answer)

    async def delete(self, access: ClusterAccess, kind: str, namespace: str, name: str) -> bool:
        """Delete with foreground propagation; False when the object was already gone."""

        def delete(api: k8s.ApiClient) -> bool:
            try:
                self._send(
                    api,
                    "DELETE",
                    _kind(kind).item(namespace, name),
                    {"propagationPolicy": "Foreground"},
                )
            except ApiException as error:
                if _is_not_found(error):
                    return False
                raise
            return True

        return await self._call(access, delete)

    async def observe_deployment(
        self, access: ClusterAccess, namespace: str, name: str
    ) -> RolloutObservation:
        """The rollout as the cluster reports it, with the pods' problem when not available."""

        def observe(api: k8s.ApiClient) -> RolloutObservation:
            return self._explain(api, namespace, self._read_deployment(api, namespace, name))

        return await self._call(access, observe)

    async def wait_deployment(
        self,
        access: ClusterAccess,
        namespace: str,
        name: str,
        timeout_s: float,
        *,
        applying: Manifest | None = None,
    ) -> RolloutObservation:
        """Follow the Deployment until available, failed or missing, or `timeout_s` passes;
        `applying` it first, it is followed from the apply's answer (no read: the shared
        watch is joined before the apply, so every later change reaches this rollout)."""
        deadline = time.monotonic() + timeout_s
        waiter = self._join(access, namespace, name)
        try:
            read = partial(self._read_deployment, namespace=namespace, name=name)
            if applying is None:
                live = await self._call(access, read)
            else:
                apply = partial(self._apply, access=access, manifest=applying, answer=True)
                live = await self._call(access, apply)
            while live is not None and interpret_deployment(live).phase == "progressing":
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    change = await asyncio.wait_for(waiter.changes.get(), remaining)
                except TimeoutError:
                    break
                if isinstance(change, Exception):
                    raise change
                if isinstance(change, _Resync):
                    if not change.covers(live):
                        live = await self._call(access, read)
                elif _newer(change[1], live):
                    live = change[0]
        finally:
            self._leave(waiter)
        return await self._call(access, partial(self._explain, namespace=namespace, live=live))

    async def observe_service(
        self, access: ClusterAccess, namespace: str, name: str
    ) -> ServiceObservation:
        """The Service's addresses and its ready endpoints."""

        def observe(api: k8s.ApiClient) -> ServiceObservation:
            service = self._read(api, _KINDS["Service"].item(namespace, name))
            if service is None:
                return interpret_service(None, None)
            endpoints = self._read(api, _Kind("v1", "endpoints").item(namespace, name))
            return interpret_service(service, endpoints)

        return await self._call(access, observe)

    async def managed(self, access: ClusterAccess, kind: str) -> dict[str, Manifest]:
        """Slipway's live objects of `kind` (Deployment, Service, NetworkPolicy or
        ServiceAccount) in all namespaces, by their `LABEL_ID`."""

        def listing(api: k8s.ApiClient) -> dict[str, Manifest]:
            managed_kind = _kind(kind)
            found: dict[str, Manifest] = {}
            token: str | None = None
            while True:
                page = self._send(
                    api,
                    "GET",
                    f"{managed_kind.base}/{managed_kind.plural}",
                    {
                        "labelSelector": f"{LABEL_MANAGED_BY}={MANAGED_BY}",
                        "limit": _LIST_PAGE,
                        "continue": token,
                    },
                )
                for item in page.get("items") or []:
                    metadata = item.get("metadata") or {}
                    entity_id = (metadata.get("labels") or {}).get(LABEL_ID)
                    if entity_id:
                        # Server-side apply's bookkeeping, about half of each object, is
                        # never read: not kept for a listing of every object at once.
                        metadata.pop("managedFields", None)
                        # List items come without kind and apiVersion; give them back.
                        found[str(entity_id)] = {
                            "apiVersion": managed_kind.api_version,
                            "kind": kind,
                            **item,
                        }
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    return found

        return await self._call(access, listing)

    async def read_object(
        self, access: ClusterAccess, api_version: str, kind: str, namespace: str, name: str
    ) -> Manifest | None:
        """Any object, found through the API server's discovery (as kubectl finds it)."""

        def read(api: k8s.ApiClient) -> Manifest | None:
            resource = self._resource(api, api_version, kind)
            if resource is None:
                return None  # the cluster serves no such kind: nothing of it is live
            plural, namespaced = resource
            base = _group_path(api_version)
            where = f"/namespaces/{namespace}" if namespaced else ""
            return self._read(api, f"{base}{where}/{plural}/{name}")

        return await self._call(access, read)

    async def pod_metrics(
        self, access: ClusterAccess, namespace: str, deployment_id: str
    ) -> list[Manifest] | None:
        """PodMetrics from the metrics API, selected by the pods' `LABEL_ID` label."""
        selector = urllib.parse.quote(f"{LABEL_ID}={deployment_id}")
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods?labelSelector={selector}"

        def read(api: k8s.ApiClient) -> list[Manifest] | None:
            found = self._read(api, path)
            return None if found is None else list(found.get("items") or [])

        return await self._call(access, read)

    async def namespace_pod_metrics(
        self, access: ClusterAccess, namespace: str
    ) -> dict[str, list[Manifest]] | None:
        """PodMetrics of the namespace's pods labelled `LABEL_MANAGED_BY`, by `LABEL_ID`."""
        selector = urllib.parse.quote(f"{LABEL_MANAGED_BY}={MANAGED_BY}")
        path = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods?labelSelector={selector}"

        def read(api: k8s.ApiClient) -> dict[str, list[Manifest]] | None:
            found = self._read(api, path)
            if found is None:
                return None
            by_id: dict[str, list[Manifest]] = {}
            for item in found.get("items") or []:
                labels = (item.get("metadata") or {}).get("labels") or {}
                if entity_id := labels.get(LABEL_ID):
                    by_id.setdefault(str(entity_id), []).append(item)
            return by_id

        return await self._call(access, read)

    async def pod_report(
        self, access: ClusterAccess, namespace: str, deployment_id: str
    ) -> PodReport:
        """The pods labelled with the Deployment's id and the events whose object is one."""

        def read(api: k8s.ApiClient) -> PodReport:
            pods = self._send(
                api,
                "GET",
                _PODS.collection(namespace),
                {"labelSelector": f"{LABEL_ID}={deployment_id}"},
            ).get("items")
            names = {str((pod.get("metadata") or {}).get("name")) for pod in pods or []}
            events = self._send(
                api,
                "GET",
                _EVENTS.collection(namespace),
                {"fieldSelector": "involvedObject.kind=Pod"},
            ).get("items")
            about = [
                event
                for event in events or []
                if str((event.get("involvedObject") or {}).get("name")) in names
            ]
            return PodReport(pods=list(pods or []), events=about)

        return await self._call(access, read)

    # --- blocking helpers (run in worker threads) ----------------------------------

    def _ensure_namespace(self, api: k8s.ApiClient, namespace: str) -> None:
        live = self._read(api, _namespace_path(namespace))
        if live is not None:
            if lacks_pod_security(live):
                self._server_side_apply(api, namespace_manifest(namespace))
            return
        try:
            self._send(api, "POST", _namespace_path(), body=namespace_manifest(namespace))
        except ApiException as error:
            if int(error.status or 0) != 409:  # created meanwhile by someone else
                raise

    def _server_side_apply(
        self, api: k8s.ApiClient, manifest: Manifest, answer: bool = False
    ) -> Json | None:
        """Server-side apply of one object (a Namespace or a kind of `_KINDS`); the object
        as the API server answered (when `answer`)."""
        kind = str(manifest.get("kind"))
        metadata = manifest.get("metadata") or {}
        name, namespace = str(metadata.get("name")), str(metadata.get("namespace") or "default")
        path = _namespace_path(name) if kind == "Namespace" else _kind(kind).item(namespace, name)
        options = {"fieldManager": FIELD_MANAGER, "force": True}
        response = self._request(api, "PATCH", path, options, dict(manifest), APPLY_PATCH)
        if answer:
            return _read_json(response)
        try:
            # Read, not parsed (the object is not needed), so that the connection is reused.
            response.data  # noqa: B018
        finally:
            response.release_conn()
        return None

    def _resource(self, api: k8s.ApiClient, api_version: str, kind: str) -> tuple[str, bool] | None:
        """The plural name of `kind` in `api_version` and whether it is namespaced, from
        the group version's discovery document (kept; read again when a kind is missing:
        a CRD may have been added since)."""
        key = (api.configuration.host, api_version)
        with self._clients_lock:
            resources = self._discovery.get(key)
        if resources is None or kind not in resources:
            document = self._read(api, _group_path(api_version)) or {}
            resources = {
                str(r["kind"]): (str(r["name"]), bool(r.get("namespaced")))
                for r in document.get("resources") or []
                if "/" not in str(r.get("name", ""))
            }
            with self._clients_lock:
                self._discovery[key] = resources
        return resources.get(kind)

    def _read(self, api: k8s.ApiClient, path: str) -> Json | None:
        """GET one API path as JSON; None on 404."""
        try:
            return self._send(api, "GET", path)
        except ApiException as error:
            if _is_not_found(error):
                return None
            raise

    def _read_deployment(self, api: k8s.ApiClient, namespace: str, name: str) -> Json | None:
        return self._read(api, _DEPLOYMENTS.item(namespace, name))

    def _explain(self, api: k8s.ApiClient, namespace: str, live: Json | None) -> RolloutObservation:
        """Interpret the Deployment; when it is not available, ask its pods and their events."""
        observation = interpret_deployment(live)
        if live is None or observation.phase in ("available", "missing"):
            return observation
        match_labels = ((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not match_labels:
            return observation
        pods = self._send(
            api, "GET", _PODS.collection(namespace), {"labelSelector": _selector(match_labels)}
        ).get("items")
        pods = [
            pod for pod in pods or [] if not (pod.get("metadata") or {}).get("deletionTimestamp")
        ]
        if not pods:
            return observation
        # Events of the pods only: the namespace's other events are someone else's story.
        events = self._send(
            api,
            "GET",
            _EVENTS.collection(namespace),
            {"fieldSelector": "involvedObject.kind=Pod"},
        ).get("items")
        return interpret_deployment(live, pods, events or [])

    # --- the shared watches (a watch thread each) -------------------------------------

    def _join(self, access: ClusterAccess, namespace: str, name: str) -> _Waiter:
        """Wait on changes of Deployment `name`, through its namespace's shared watch
        (started if none runs). Registered before the caller first reads the object, so no
        change after that read is missed."""
        waiter = _Waiter(name, asyncio.get_running_loop())
        with self._followed_lock:
            key = (access.cluster_id, namespace)
            watch = self._followed.get(key)
            if watch is None:
                watch = self._followed[key] = _SharedWatch(key)
                self._watches.submit(self._follow, access, watch)
            watch.waiters.setdefault(name, set()).add(waiter)
            waiter.watch = watch
        return waiter

    def _leave(self, waiter: _Waiter) -> None:
        """The waiter is done; the last one to leave a watch stops it."""
        watch = waiter.watch
        with self._followed_lock:
            waiting = watch.waiters.get(waiter.name, set())
            waiting.discard(waiter)
            if not waiting:
                watch.waiters.pop(waiter.name, None)
            if not watch.waiters and self._followed.get(watch.key) is watch:
                del self._followed[watch.key]
                watch.cancel.set()

    def _follow(self, access: ClusterAccess, watch: _SharedWatch) -> None:
        """The watch thread: list for a version, tell the waiters to read again (they may
        have read before it), follow changes from it; list again when the history no
        longer reaches back (410 Gone). Ends once no rollout waits; on an error every
        waiter gets it."""
        namespace = watch.key[1]
        error: Exception | None = None
        server = ""
        try:
            api = self._client(access)
            server = api.configuration.host
            version: str | None = None
            while not watch.cancel.is_set():
                if version is None:
                    page = self._send(api, "GET", _DEPLOYMENTS.collection(namespace), {"limit": 1})
                    version = str((page.get("metadata") or {}).get("resourceVersion"))
                    self._post(watch, None, _Resync(version))
                try:
                    version = self._stream(api, watch, namespace, version)
                except ApiException as gone:
                    if int(gone.status or 0) != 410:
                        raise
                    version = None
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as failure:
            if not watch.cancel.is_set():
                error = _translated(failure, server)
        except Exception as failure:  # a waiter must never wait on a dead thread
            error = failure
        finally:
            with self._followed_lock:
                if self._followed.get(watch.key) is watch:
                    del self._followed[watch.key]
                watch.cancel.set()
                if error is not None:
                    for waiting in watch.waiters.values():
                        for waiter in waiting:
                            waiter.post(error)

    def _stream(self, api: k8s.ApiClient, watch: _SharedWatch, namespace: str, version: str) -> str:
        """Follow one watch request of the namespace's Deployments from `version`, handing
        each change to its waiters; the last version seen."""
        response = self._request(
            api,
            "GET",
            _DEPLOYMENTS.collection(namespace),
            {"resourceVersion": version, "timeoutSeconds": _WATCH_CHUNK_SECONDS, "watch": True},
            timeout=(self._timeout[0], _WATCH_CHUNK_SECONDS + self._timeout[1]),
        )
        watch.cancel.track(response)
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                event = json.loads(line)
                item = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise ApiException(
                        status=int(item.get("code") or 500),
                        reason=f"{item.get('reason')}: {item.get('message')}",
                    )
                metadata = item.get("metadata") or {}
                version = str(metadata.get("resourceVersion") or version)
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    live = None if event["type"] == "DELETED" else item
                    self._post(watch, str(metadata.get("name")), (live, item))
        except (urllib3.exceptions.HTTPError, OSError):
            if not watch.cancel.is_set():
                raise
            # Our own cancel shut the socket down: no rollout waits any more.
        finally:
            watch.cancel.track(None)
            with contextlib.suppress(Exception):
                response.close()
                response.release_conn()
        return version

    def _post(self, watch: _SharedWatch, name: str | None, change: Any) -> None:
        """Hand a change to the waiters of Deployment `name` (None: to every waiter)."""
        with self._followed_lock:
            if name is None:
                waiters = [w for waiting in watch.waiters.values() for w in waiting]
            else:
                waiters = list(watch.waiters.get(name, ()))
        for waiter in waiters:
            waiter.post(change)


def _version(obj: Json) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _newer(candidate: Json, current: Json) -> bool:
    """Whether `candidate` is a later state of the object than `current`, by their
    resourceVersions (integers on etcd and on the simulated cluster; when either is not,
    the later arrival wins)."""
    versions = [_version(candidate), _version(current)]
    if all(v.isdigit() for v in versions):
        return int(versions[0]) > int(versions[1])
    return True


@dataclass(frozen=True)
class _Resync:
    """The shared watch (re)started from `version`: changes before it are unseen."""

    version: str

    def covers(self, live: Json) -> bool:
        """Whether the watch reaches back to `live` (its version is no older than the
        watch's start), so that no change after it can have been missed; when versions are
        not integers, it never does (the object is read again)."""
        mine = _version(live)
        return mine.isdigit() and self.version.isdigit() and int(mine) >= int(self.version)


class _SharedWatch:
    """One watch of a namespace's Deployments and the rollouts waiting on it, by name."""

    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.waiters: dict[str, set[_Waiter]] = {}
        self.cancel = _Cancel()


class _Waiter:
    """One rollout waiting on its Deployment: the watch thread posts its changes (the
    object, or None once deleted, with the object as last seen), `_Resync`, or the error
    that ended the watch; the event loop reads them."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.watch: _SharedWatch
        self.changes: asyncio.Queue[Any] = asyncio.Queue()
        self._loop = loop

    def post(self, change: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            self._loop.call_soon_threadsafe(self.changes.put_nowait, change)
