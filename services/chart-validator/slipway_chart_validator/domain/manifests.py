"""Rendered manifests: what `helm template` printed, split into Kubernetes objects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from .findings import Finding


class _ManifestLoader(yaml.SafeLoader):
    """SafeLoader that keeps unquoted dates as strings, as the Kubernetes API server does."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE_COMMENT = re.compile(r"^# Source: (?P<source>.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True, eq=False)
class Manifest:
    """One rendered Kubernetes object and the template file it came from."""

    body: dict[str, Any]
    file: str | None = None

    @property
    def kind(self) -> str:
        return str(self.body.get("kind") or "")

    @property
    def metadata(self) -> dict[str, Any]:
        metadata = self.body.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str | None:
        namespace = self.metadata.get("namespace")
        return str(namespace) if namespace else None

    @property
    def resource(self) -> str:
        return f"{self.kind or '?'}/{self.name or '?'}"


def _chart_relative(source: str) -> str:
    # helm names sources `<chart>/templates/x.yaml`; findings use paths from the chart root.
    _, _, rest = source.partition("/")
    return rest or source


def parse_rendered(text: str) -> tuple[list[Manifest], list[Finding]]:
    """Split `helm template` output into objects; unusable documents become findings."""
    manifests: list[Manifest] = []
    findings: list[Finding] = []
    for chunk in _DOCUMENT_SEPARATOR.split(text):
        source = _SOURCE_COMMENT.search(chunk)
        file = _chart_relative(source["source"]) if source else None
        try:
            documents = [doc for doc in yaml.load_all(chunk, Loader=_ManifestLoader) if doc]
        except yaml.YAMLError as exc:
            findings.append(
                Finding("error", "helm.template", f"rendered YAML does not parse: {exc}", file)
            )
            continue
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == "List":
                # Appending while iterating is deliberate: the items are checked like documents.
                items = document.get("items")
                documents.extend(items if isinstance(items, list) else [])
                continue
            if not isinstance(document, dict):
                findings.append(
                    Finding("error", "schema", "rendered document is not a YAML mapping", file)
                )
                continue
            manifest = Manifest(document, file)
            if not document.get("apiVersion") or not document.get("kind"):
                findings.append(
                    Finding(
                        "error",
                        "schema",
                        "rendered object has no apiVersion or kind",
                        file,
                        manifest.resource,
                    )
                )
                continue
            manifests.append(manifest)
    return manifests, findings
