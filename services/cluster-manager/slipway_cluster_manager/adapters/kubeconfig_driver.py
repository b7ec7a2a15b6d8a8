"""The `kubeconfig` cluster driver: attach a cluster that something else runs.

`spec.extra["kubeconfig"]` names the kubeconfig file (default: the first path of
$KUBECONFIG, else ~/.kube/config), which must lie under the kubeconfig roots, or
`spec.kubeconfig_data` carries the kubeconfig itself (a cluster attached with its
content: `extra["kubeconfig"]` then says `<inline>`); `spec.extra["context"]` names the
context (default: the kubeconfig's current-context). Slipway neither starts, stops nor
deletes such a cluster: deleting the Slipway entity only detaches it. The probe asks the
API server's `/readyz` through the official `kubernetes` client (credentials, TLS and, for
a file, exec plugins exactly as kubectl would use them), falling back to `/version` where
`/readyz` is not allowed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.kube_config import load_kube_config, load_kube_config_from_dict

from slipway_cluster_manager.adapters.kubeconfig_file import (
    KubeconfigError,
    KubeconfigFiles,
    inline_context,
)
from slipway_cluster_manager.domain.cluster import INLINE_KUBECONFIG
from slipway_cluster_manager.domain.ports import (
    ClusterSpec,
    ImageTar,
    InvalidClusterSpec,
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


Configure = Callable[[k8s_client.Configuration], None]
"""Fills a client configuration from the attached kubeconfig (runs in a worker thread)."""


class KubeconfigDriver:
    """Attaches existing clusters through a kubeconfig context (see the module docstring)."""

    def __init__(self, files: KubeconfigFiles, *, probe_timeout: float = 5.0) -> None:
        """`files`: the kubeconfig files under the kubeconfig roots (no other is read)."""
        self.files = files
        self.probe_timeout = probe_timeout

    @staticmethod
    def context(spec: ClusterSpec) -> str | None:
        """The context `spec` attaches (None: the kubeconfig's current-context)."""
        return spec.extra.get(CONTEXT_KEY) or None

    def _inline(self, spec: ClusterSpec) -> dict[str, Any] | None:
        """The self-contained kubeconfig given as content, or None for a file."""
        if spec.kubeconfig_data is None:
            if spec.extra.get(KUBECONFIG_KEY) == INLINE_KUBECONFIG:
                raise PermanentDriverError(
                    f"the kubeconfig of cluster '{spec.name}' was not opened", code="KUBECONFIG"
                )
            return None
        try:
            return inline_context(spec.kubeconfig_data, self.context(spec))
        except KubeconfigError as error:
            raise PermanentDriverError(str(error), code="KUBECONFIG") from None

    def _configure(self, spec: ClusterSpec) -> tuple[str, Configure]:
        """What the probe attaches (for its messages) and how to configure a client."""
        context = self.context(spec)
        inline = self._inline(spec)
        if inline is not None:
            return "the kubeconfig given as content", functools.partial(
                _configure_from_dict, inline
            )
        path = self.files.path(spec.extra.get(KUBECONFIG_KEY))
        where = f"context {context!r} of " if context else ""
        return f"{where}kubeconfig {path}", functools.partial(
            _configure_from_file, str(path), context
        )

    async def start(self, spec: ClusterSpec, progress: Progress) -> None:
        raise PermanentDriverError(ATTACH_ONLY.format(action="start"), code="UNSUPPORTED")

    async def stop(self, spec: ClusterSpec) -> None:
        raise PermanentDriverError(ATTACH_ONLY.format(action="stop"), code="UNSUPPORTED")

    async def delete(self, spec: ClusterSpec) -> None:
        # Detaching forgets the cluster; the cluster itself is not ours to remove.
        return None

    async def probe(self, spec: ClusterSpec) -> ProbeResult:
        try:
            source, configure = self._configure(spec)
        except PermanentDriverError as error:  # InvalidClusterSpec: outside the roots
            return ProbeResult("error", f"cannot use the kubeconfig: {_reason(error)}")
        return await asyncio.to_thread(self._probe_blocking, source, configure)

    async def kubeconfig(self, spec: ClusterSpec) -> str:
        inline = self._inline(spec)
        if inline is not None:
            return yaml.safe_dump(inline, sort_keys=False)
        try:
            minified = await asyncio.to_thread(
                self.files.read, spec.extra.get(KUBECONFIG_KEY), self.context(spec)
            )
        except InvalidClusterSpec as error:  # a query names no field: not a 422
            raise PermanentDriverError(_reason(error), code="KUBECONFIG") from None
        return yaml.safe_dump(minified, sort_keys=False)

    async def load_image(
        self, spec: ClusterSpec, image_ref: str, image_tar: ImageTar | None = None
    ) -> None:
        raise PermanentDriverError(NO_IMAGE_LOAD.format(image=image_ref), code="UNSUPPORTED")

    # -- probing (runs in a worker thread: the kubernetes client is synchronous) -----

    def _probe_blocking(self, source: str, configure: Configure) -> ProbeResult:
        configuration = k8s_client.Configuration()
        try:
            configure(configuration)
        except (ConfigException, OSError, ValueError) as error:
            return ProbeResult("error", f"cannot use {source}: {error}")
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


def _configure_from_file(path: str, context: str | None, into: k8s_client.Configuration) -> None:
    load_kube_config(  # type: ignore[no-untyped-call]
        config_file=path, context=context, client_configuration=into, persist_config=False
    )


def _configure_from_dict(document: dict[str, Any], into: k8s_client.Configuration) -> None:
    # The document is self-contained (no file, no exec plugin): checked by inline_context.
    load_kube_config_from_dict(  # type: ignore[no-untyped-call]
        document, client_configuration=into, persist_config=False
    )


def _reason(error: PermanentDriverError) -> str:
    """A driver error's message without the field prefix InvalidClusterSpec adds."""
    if isinstance(error, InvalidClusterSpec):
        return error.message.split(": ", 1)[-1]
    return error.message


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
