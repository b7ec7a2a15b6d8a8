"""The `kubeconfig` cluster driver: attach a cluster that something else runs.

`spec.extra["kubeconfig"]` names the kubeconfig file (default: the first path of
$KUBECONFIG, else ~/.kube/config) and `spec.extra["context"]` the context (default: the
file's current-context). Slipway neither starts, stops nor deletes such a cluster:
deleting the Slipway entity only detaches it. The probe asks the API server's `/readyz`
through the official `kubernetes` client (credentials, TLS and exec plugins exactly as
kubectl would use them), falling back to `/version` where `/readyz` is not allowed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import urllib3
from kubernetes import client as k8s_client
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import load_kube_config

from slipway_cluster_manager.adapters.kubeconfig_file import (
    KubeconfigError,
    default_kubeconfig_path,
    extract_context,
)
from slipway_cluster_manager.domain.ports import (
    ClusterSpec,
    ImageTar,
    PermanentDriverError,
    ProbeResult,
    Progress,
)

KUBECONFIG_KEY = "kubeconfig"
CONTEXT_KEY = "context"
ATTACH_ONLY = "the kubeconfig driver attaches an existing cluster; {action} it with its own tooling"
NO_IMAGE_LOAD = (
    "the kubeconfig driver cannot load images into an attached cluster; push {image} to a "
    "registry the cluster can pull from"
)
_FALLBACK_STATUSES = frozenset({401, 403, 404})
_BODY_EXCERPT = 300


class KubeconfigDriver:
    """Attaches existing clusters through a kubeconfig context (see the module docstring)."""

    def __init__(self, *, probe_timeout: float = 5.0) -> None:
        self.probe_timeout = probe_timeout

    def source(self, spec: ClusterSpec) -> tuple[Path, str | None]:
        """The kubeconfig file and context (None = current-context) `spec` attaches."""
        path = spec.extra.get(KUBECONFIG_KEY)
        return (
            Path(path).expanduser() if path else default_kubeconfig_path(),
            spec.extra.get(CONTEXT_KEY) or None,
        )

    async def start(self, spec: ClusterSpec, progress: Progress) -> None:
        raise PermanentDriverError(ATTACH_ONLY.format(action="start"), code="UNSUPPORTED")

    async def stop(self, spec: ClusterSpec) -> None:
        raise PermanentDriverError(ATTACH_ONLY.format(action="stop"), code="UNSUPPORTED")

    async def delete(self, spec: ClusterSpec) -> None:
        # Detaching forgets the cluster; the cluster itself is not ours to remove.
        return None

    async def probe(self, spec: ClusterSpec) -> ProbeResult:
        path, context = self.source(spec)
        return await asyncio.to_thread(self._probe_blocking, path, context)

    async def kubeconfig(self, spec: ClusterSpec) -> str:
        path, context = self.source(spec)
        try:
            return await asyncio.to_thread(extract_context, path, context)
        except KubeconfigError as error:
            raise PermanentDriverError(str(error), code="KUBECONFIG") from None

    async def load_image(
        self, spec: ClusterSpec, image_ref: str, image_tar: ImageTar | None = None
    ) -> None:
        raise PermanentDriverError(NO_IMAGE_LOAD.format(image=image_ref), code="UNSUPPORTED")

    # -- probing (runs in a worker thread: the kubernetes client is synchronous) -----

    def _probe_blocking(self, path: Path, context: str | None) -> ProbeResult:
        configuration = k8s_client.Configuration()
        try:
            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(path),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError, ValueError) as error:
            where = f"context {context!r} of " if context else ""
            return ProbeResult("error", f"cannot use {where}kubeconfig {path}: {error}")
        # One quick attempt: the next probe is the retry.
        configuration.retries = False
        host = configuration.host
        with k8s_client.ApiClient(configuration) as api:
            try:
                status, body = self._get(api, "/readyz")
                if status == 200:
                    return ProbeResult("running", None, {"readyz": "ok"})
                if status not in _FALLBACK_STATUSES:
                    return ProbeResult(
                        "error",
                        f"the API server at {host} is not ready: /readyz answered HTTP "
                        f"{status}: {_excerpt(body)}",
                        {"readyz": str(status)},
                    )
                version_status, version_body = self._get(api, "/version")
            except (urllib3.exceptions.HTTPError, OSError, k8s_client.ApiException) as error:
                return ProbeResult(
                    "error", f"cannot reach the API server at {host}: {_describe(error)}"
                )
        components = {"readyz": str(status), "version": str(version_status)}
        if version_status == 200:
            return ProbeResult(
                "running",
                f"/readyz answered HTTP {status}; /version answered, so the server is up",
                components,
            )
        return ProbeResult(
            "error",
            f"the API server at {host} refused the probe: /readyz answered HTTP {status}, "
            f"/version answered HTTP {version_status}: {_excerpt(version_body)}",
            components,
        )

    def _get(self, api: k8s_client.ApiClient, path: str) -> tuple[int, str]:
        method, url, headers, _body, _post = api.param_serialize(
            "GET",
            path,
            header_params={"Accept": "text/plain, application/json"},
            auth_settings=["BearerToken"],
        )
        response = api.call_api(
            method, url, header_params=headers, _request_timeout=self.probe_timeout
        )
        data: bytes = response.read() or b""  # type: ignore[no-untyped-call]
        return response.status, data.decode("utf-8", errors="replace")


def _excerpt(body: str) -> str:
    text = " ".join(body.split())
    if not text:
        return "(empty body)"
    return text if len(text) <= _BODY_EXCERPT else text[:_BODY_EXCERPT] + "…"


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    if isinstance(error, k8s_client.ApiException):
        return str(error.reason or error.status)
    return str(error) or type(error).__name__
