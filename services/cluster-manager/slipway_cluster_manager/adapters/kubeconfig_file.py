"""Reading a kubeconfig and cutting out one self-contained context.

What `kubectl config view --raw --minify --flatten --context NAME` does, without
needing kubectl: keep the context, its cluster and its user; turn file references
(certificate-authority, client-certificate, client-key, tokenFile) into inline data so
the result works on any machine and in any process. `KubeconfigFiles` offers this to the
use cases (the `Kubeconfigs` port).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from slipway_cluster_manager.domain.ports import Attachment, InvalidClusterSpec

# file-reference key -> inline key, per kubeconfig section
_CLUSTER_FILES = {"certificate-authority": "certificate-authority-data"}
_USER_FILES = {"client-certificate": "client-certificate-data", "client-key": "client-key-data"}


class KubeconfigError(Exception):
    """The kubeconfig is missing, unreadable, or lacks what was asked for."""


def default_kubeconfig_path() -> Path:
    """Where kubectl would look: the first path of $KUBECONFIG, else ~/.kube/config."""
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return Path(paths[0]) if paths else Path.home() / ".kube" / "config"


def load_kubeconfig(path: Path) -> dict[str, Any]:
    """Parse a kubeconfig file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KubeconfigError(f"kubeconfig {path} does not exist") from None
    except OSError as error:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise KubeconfigError(f"kubeconfig {path} is not a kubeconfig document")
    return document


def _named(document: Mapping[str, Any], section: str, name: str, kind: str) -> dict[str, Any]:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise KubeconfigError(f"the kubeconfig has no {kind} named {name!r}")


def _inline_files(
    section: Mapping[str, Any], files: Mapping[str, str], base_dir: Path
) -> dict[str, Any]:
    inlined = dict(section)
    for file_key, data_key in files.items():
        reference = inlined.pop(file_key, None)
        if reference is None or data_key in inlined:
            continue
        content = _read_referenced(str(reference), base_dir)
        inlined[data_key] = base64.b64encode(content).decode("ascii")
    return inlined


def _read_referenced(reference: str, base_dir: Path) -> bytes:
    # kubectl resolves relative paths against the kubeconfig's own directory.
    path = Path(reference).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    try:
        return path.read_bytes()
    except OSError as error:
        raise KubeconfigError(f"cannot read {path} named by the kubeconfig: {error}") from None


def minify_kubeconfig(
    document: Mapping[str, Any], context: str | None, *, base_dir: Path
) -> dict[str, Any]:
    """A kubeconfig holding only `context` (default: current-context), flattened."""
    context_name = context or document.get("current-context")
    if not context_name:
        raise KubeconfigError("no context was named and the kubeconfig has no current-context")
    context_entry = _named(document, "contexts", context_name, "context")
    context_body = context_entry.get("context") or {}
    cluster_name = context_body.get("cluster")
    user_name = context_body.get("user")
    if not cluster_name:
        raise KubeconfigError(f"context {context_name!r} names no cluster")

    cluster_entry = _named(document, "clusters", cluster_name, "cluster")
    cluster = _inline_files(cluster_entry.get("cluster") or {}, _CLUSTER_FILES, base_dir)
    minified: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "contexts": [{"name": context_name, "context": dict(context_body)}],
        "current-context": context_name,
        "preferences": {},
        "users": [],
    }
    if user_name:
        user_entry = _named(document, "users", user_name, "user")
        user = _inline_files(user_entry.get("user") or {}, _USER_FILES, base_dir)
        token_file = user.pop("tokenFile", None)
        if token_file is not None and "token" not in user:
            user["token"] = _read_referenced(str(token_file), base_dir).decode().strip()
        minified["users"] = [{"name": user_name, "user": user}]
    return minified


def extract_context(path: Path, context: str | None) -> str:
    """Read `path` and return the flattened single-context kubeconfig as YAML text."""
    document = load_kubeconfig(path)
    minified = minify_kubeconfig(document, context, base_dir=path.parent)
    return yaml.safe_dump(minified, sort_keys=False)


def server_of(kubeconfig: str) -> str | None:
    """The API server URL of a kubeconfig's current context (None when it names none)."""
    try:
        document = yaml.safe_load(kubeconfig)
        context = _named(document, "contexts", document["current-context"], "context")
        cluster = _named(document, "clusters", context["context"]["cluster"], "cluster")
        server = cluster["cluster"]["server"]
    except (yaml.YAMLError, KubeconfigError, KeyError, TypeError):
        return None
    return str(server) if server else None


class KubeconfigFiles:
    """The kubeconfig files of this host (the `Kubeconfigs` port)."""

    def attachment(self, kubeconfig: str | None, context: str | None) -> Attachment:
        """The file and context an attached cluster uses, checked to be readable and to
        hold the context; InvalidClusterSpec naming `kubeconfig` or `context` if not."""
        path = Path(kubeconfig).expanduser() if kubeconfig else default_kubeconfig_path()
        try:
            document = load_kubeconfig(path)
        except KubeconfigError as error:
            raise InvalidClusterSpec("kubeconfig", str(error)) from None
        try:
            minified = minify_kubeconfig(document, context, base_dir=path.parent)
        except KubeconfigError as error:
            raise InvalidClusterSpec("context" if context else "kubeconfig", str(error)) from None
        return Attachment(kubeconfig=str(path), context=minified["current-context"])

    def api_server(self, kubeconfig: str) -> str | None:
        """The API server URL of a kubeconfig text's current context."""
        return server_of(kubeconfig)
