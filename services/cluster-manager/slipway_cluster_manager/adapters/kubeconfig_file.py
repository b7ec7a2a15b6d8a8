"""Reading a kubeconfig and cutting out one self-contained context.

What `kubectl config view --raw --minify --flatten --context NAME` does, without
needing kubectl: keep the context, its cluster and its user; turn file references
(certificate-authority, client-certificate, client-key, tokenFile) into inline data so
the result works on any machine and in any process. `KubeconfigFiles` offers this to the
use cases (the `Kubeconfigs` port).

Only files under the kubeconfig roots (`SLIPWAY_KUBECONFIG_ROOTS`) are read: any other
path is refused before it is opened, with an answer that says nothing about the file.
(The files a kubeconfig under the roots names are read as kubectl would: that kubeconfig
belongs to the host.) A kubeconfig given as content comes from a request, so it must be
self-contained: it may name no file and run no credential plugin.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from slipway_cluster_manager.domain.ports import Attachment, InvalidClusterSpec

INLINE_FIELD = "kubeconfig_data"
# Credential sources that run a program or call a provider on the Slipway host.
_COMMAND_RUNNERS = ("exec", "auth-provider")

# file-reference key -> inline key, per kubeconfig section
_CLUSTER_FILES = {"certificate-authority": "certificate-authority-data"}
_USER_FILES = {"client-certificate": "client-certificate-data", "client-key": "client-key-data"}


class KubeconfigError(Exception):
    """The kubeconfig is missing, unreadable, or lacks what was asked for."""


class NotSelfContained(KubeconfigError):
    """A kubeconfig given as content names a file or runs a credential plugin."""


def default_kubeconfig_path() -> Path:
    """Where kubectl would look: the first path of $KUBECONFIG, else ~/.kube/config."""
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return Path(paths[0]) if paths else Path.home() / ".kube" / "config"


def outside_roots(raw: str, roots: Sequence[Path]) -> InvalidClusterSpec:
    """The refusal of a kubeconfig path outside `roots`: it names the roots, nothing else."""
    shown = ", ".join(str(root) for root in roots) or "none are configured"
    return InvalidClusterSpec(
        "kubeconfig",
        f"'{raw}' is outside the kubeconfig roots ({shown}); attach a file under them, "
        f"or send the kubeconfig's content as {INLINE_FIELD}",
    )


def confined(raw: str, roots: Sequence[Path]) -> Path:
    """Where `raw` (with `~` expanded) leads once every symlink is followed, when that lies
    under one of `roots` (themselves resolved); `outside_roots` otherwise. Nothing is
    opened, and the refusal is the same whether the path exists or not."""
    try:
        target = Path(raw).expanduser().resolve()
        resolved_roots = [root.expanduser().resolve() for root in roots]
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte: not provably inside
        raise outside_roots(raw, roots) from None
    if not any(target.is_relative_to(root) for root in resolved_roots):
        raise outside_roots(raw, roots)
    return target


def _yaml_problem(error: yaml.YAMLError) -> str:
    """Where the YAML breaks, without PyYAML's excerpt of the text (it may hold a token)."""
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return "not valid YAML"
    return f"not valid YAML (line {mark.line + 1}, column {mark.column + 1})"


def parse_kubeconfig(text: str, what: str) -> dict[str, Any]:
    """A kubeconfig document from YAML text; KubeconfigError saying `what` is wrong."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KubeconfigError(f"{what} is {_yaml_problem(error)}") from None
    if not isinstance(document, dict):
        raise KubeconfigError(f"{what} is not a kubeconfig document")
    return document


def load_kubeconfig(path: Path) -> dict[str, Any]:
    """Parse a kubeconfig file (a regular file: a FIFO or device is never opened)."""
    if not path.is_file():
        problem = "is not a regular file" if path.exists() else "does not exist"
        raise KubeconfigError(f"kubeconfig {path} {problem}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KubeconfigError(f"kubeconfig {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise KubeconfigError(f"cannot read kubeconfig {path}: {reason}") from None
    return parse_kubeconfig(text, f"kubeconfig {path}")


def _named(document: Mapping[str, Any], section: str, name: str, kind: str) -> dict[str, Any]:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise KubeconfigError(f"the kubeconfig has no {kind} named {name!r}")


def _inline_files(
    section: Mapping[str, Any], files: Mapping[str, str], base_dir: Path | None
) -> dict[str, Any]:
    inlined = dict(section)
    for file_key, data_key in files.items():
        reference = inlined.pop(file_key, None)
        if reference is None or data_key in inlined:
            continue
        content = _read_referenced(str(reference), base_dir, file_key)
        inlined[data_key] = base64.b64encode(content).decode("ascii")
    return inlined


def _read_referenced(reference: str, base_dir: Path | None, key: str) -> bytes:
    if base_dir is None:  # content from a request: it may not make Slipway read files
        raise NotSelfContained(
            f"the kubeconfig names a file ('{key}'); a kubeconfig given as content must "
            "carry the data itself (e.g. certificate-authority-data, client-key-data, token)"
        )
    # kubectl resolves relative paths against the kubeconfig's own directory.
    path = Path(reference).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    try:
        return path.read_bytes()
    except OSError as error:
        raise KubeconfigError(f"cannot read {path} named by the kubeconfig: {error}") from None


def minify_kubeconfig(
    document: Mapping[str, Any], context: str | None, *, base_dir: Path | None
) -> dict[str, Any]:
    """A kubeconfig holding only `context` (default: current-context), flattened. The
    files it names are read relative to `base_dir`; with None (content from a request) a
    named file, or a credential plugin that would run here, is a KubeconfigError."""
    try:
        return _minify(document, context, base_dir)
    except (AttributeError, TypeError, ValueError):  # e.g. a list where a mapping belongs
        raise KubeconfigError(
            "the kubeconfig is not shaped like one (a section is not what kubectl expects)"
        ) from None


def _minify(
    document: Mapping[str, Any], context: str | None, base_dir: Path | None
) -> dict[str, Any]:
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
        if base_dir is None:
            _refuse_command_runners(user_name, user)
        token_file = user.pop("tokenFile", None)
        if token_file is not None and "token" not in user:
            token = _read_referenced(str(token_file), base_dir, "tokenFile")
            user["token"] = token.decode().strip()
        minified["users"] = [{"name": user_name, "user": user}]
    return minified


def _refuse_command_runners(user_name: str, user: Mapping[str, Any]) -> None:
    for key in _COMMAND_RUNNERS:
        if user.get(key):
            raise NotSelfContained(
                f"user {user_name!r} gets its credentials through '{key}'; a kubeconfig "
                "given as content may not run programs on the Slipway host: put the "
                "credentials themselves in it (token or client certificate and key)"
            )


def extract_context(path: Path, context: str | None) -> str:
    """Read `path` and return the flattened single-context kubeconfig as YAML text."""
    document = load_kubeconfig(path)
    minified = minify_kubeconfig(document, context, base_dir=path.parent)
    return yaml.safe_dump(minified, sort_keys=False)


def inline_context(content: str, context: str | None) -> dict[str, Any]:
    """The self-contained single-context kubeconfig of `content` (a kubeconfig given as
    text), or KubeconfigError when it is not one."""
    document = parse_kubeconfig(content, "the kubeconfig")
    return minify_kubeconfig(document, context, base_dir=None)


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
    """The kubeconfig files under `roots` (the `Kubeconfigs` port; see the module
    docstring)."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = list(roots)

    def path(self, kubeconfig: str | None) -> Path:
        """The file `kubeconfig` (default: the one kubectl would use) leads to, refused
        unless it lies under the roots (InvalidClusterSpec naming `kubeconfig`)."""
        return confined(kubeconfig or str(default_kubeconfig_path()), self.roots)

    def read(self, kubeconfig: str | None, context: str | None) -> dict[str, Any]:
        """The flattened single context of a file under the roots; InvalidClusterSpec
        naming `kubeconfig` or `context` when either cannot be used."""
        path = self.path(kubeconfig)
        try:
            document = load_kubeconfig(path)
        except KubeconfigError as error:
            raise InvalidClusterSpec("kubeconfig", str(error)) from None
        try:
            return minify_kubeconfig(document, context, base_dir=path.parent)
        except KubeconfigError as error:
            raise InvalidClusterSpec("context" if context else "kubeconfig", str(error)) from None

    def attachment(self, kubeconfig: str | None, context: str | None) -> Attachment:
        """The file and context an attached cluster uses, checked to lie under the roots,
        to be readable and to hold the context."""
        minified = self.read(kubeconfig, context)
        shown = Path(kubeconfig).expanduser() if kubeconfig else default_kubeconfig_path()
        return Attachment(kubeconfig=str(shown), context=minified["current-context"])

    def inline_context(self, content: str, context: str | None) -> str:
        """The context a kubeconfig given as content attaches, checked to be there and
        self-contained; InvalidClusterSpec naming `kubeconfig_data` or `context`."""
        try:
            document = parse_kubeconfig(content, "the kubeconfig")
        except KubeconfigError as error:
            raise InvalidClusterSpec(INLINE_FIELD, str(error)) from None
        try:
            minified = minify_kubeconfig(document, context, base_dir=None)
        except NotSelfContained as error:
            raise InvalidClusterSpec(INLINE_FIELD, str(error)) from None
        except KubeconfigError as error:
            raise InvalidClusterSpec("context" if context else INLINE_FIELD, str(error)) from None
        return str(minified["current-context"])

    def api_server(self, kubeconfig: str) -> str | None:
        """The API server URL of a kubeconfig text's current context."""
        return server_of(kubeconfig)
