"""Rendered objects against the target Kubernetes version's schemas (`kubernetes-validate`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

import jsonschema
import kubernetes_validate
from kubernetes_validate.utils import all_versions, major_minor, schema_contents
from referencing import Registry, Resource

from ..domain.findings import Finding
from ..domain.kubernetes_versions import normalize_version
from ..domain.manifests import Manifest

_MAX_MESSAGE = 400
# Schema keywords whose messages quote field names only, never values.
_QUOTES_ONLY_KEYS = frozenset({"additionalProperties", "required"})


@cache
def supported_versions() -> tuple[str, ...]:
    """`major.minor` Kubernetes versions whose schemas kubernetes-validate ships."""
    minors = {tuple(int(part) for part in version.split(".")[:2]) for version in all_versions()}
    return tuple(f"{major}.{minor}" for major, minor in sorted(minors))


def check_kubernetes_version(kubernetes_version: str) -> Finding | None:
    """An error finding when the schemas of that version are not available."""
    version = normalize_version(kubernetes_version)
    if version in supported_versions():
        return None
    supported = supported_versions()
    return Finding(
        "error",
        "schema.kubernetes-version",
        f"Kubernetes version {kubernetes_version!r} is not supported by kubernetes-validate "
        f"{kubernetes_validate.__version__}: choose one of {supported[0]} to {supported[-1]}",
    )


def _field_path(parts: Iterable[str | int]) -> str:
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _shorten(message: str) -> str:
    # jsonschema quotes whole sub-objects in some messages; keep findings readable.
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _is_builtin_group(api_version: str) -> bool:
    # Built-in API groups have no dot (core "v1", apps, batch, policy ...); custom
    # resources live in DNS-named groups.
    group = api_version.rpartition("/")[0]
    return "." not in group


@cache
def _definitions(schema_dir: str, version: str) -> Resource:
    return Resource.from_contents(
        schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    )


@cache
def _strict_validator(version: str, kind: str, api_version: str) -> jsonschema.Validator:
    """The strict schema validator of one kind, as `kubernetes_validate.validate` builds it,
    but built once: the library reads and parses the schema and its definitions (over a
    megabyte of JSON) on every call. `version` must be supported."""
    schema_version = [v for v in all_versions() if major_minor(v) <= major_minor(version)][-1]
    schema_dir = f"v{schema_version}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = schema_contents(
            f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group}.json", version
        )
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(
            version=major_minor(version), kind=kind, api_version=api_version
        ) from None
    registry = _definitions(schema_dir, version) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate_manifest(manifest: Manifest, version: str) -> Finding | None:
    """The schema problem of one object, or None. `version` must be supported."""
    api_version = str(manifest.body.get("apiVersion"))
    try:
        validator = _strict_validator(version, manifest.body["kind"], manifest.body["apiVersion"])
        validator.validate(manifest.body)
    except jsonschema.ValidationError as error:
        path = _field_path(error.path)
        where = f"{path}: " if path else ""
        message = error.message
        if manifest.kind == "Secret" and error.validator not in _QUOTES_ONLY_KEYS:
            # jsonschema quotes the offending value; a Secret's values must not end up in
            # findings, events and logs.
            message = f"the value (not shown) fails {error.validator} {error.validator_value!r}"
        return Finding(
            "error",
            "schema",
            _shorten(f"{where}{message} (Kubernetes {version} schema)"),
            file=manifest.file,
            resource=manifest.resource,
            path=path or None,
        )
    except kubernetes_validate.SchemaNotFoundError:
        if _is_builtin_group(api_version):
            return Finding(
                "error",
                "schema.unknown-kind",
                f"Kubernetes {version} has no {manifest.kind} in {api_version}: "
                "the API version is wrong or was removed",
                file=manifest.file,
                resource=manifest.resource,
                path="apiVersion",
            )
        return Finding(
            "warning",
            "schema.unknown-kind",
            f"no schema for {manifest.kind} ({api_version}) in Kubernetes {version}: "
            "a custom resource, not checked",
            file=manifest.file,
            resource=manifest.resource,
        )
    return None


def validate_manifests(manifests: Sequence[Manifest], kubernetes_version: str) -> list[Finding]:
    """Schema findings for every object (blocking: run it in a worker thread)."""
    unsupported = check_kubernetes_version(kubernetes_version)
    if unsupported:
        return [unsupported]
    version = normalize_version(kubernetes_version)
    assert version is not None
    return [finding for manifest in manifests if (finding := validate_manifest(manifest, version))]


class KubernetesSchemas:
    """The schemas kubernetes-validate ships (implements `domain.ports.SchemaValidator`)."""

    def unsupported(self, kubernetes_version: str) -> Finding | None:
        return check_kubernetes_version(kubernetes_version)

    def validate(self, manifests: Sequence[Manifest], kubernetes_version: str) -> list[Finding]:
        return validate_manifests(manifests, kubernetes_version)
