"""What a release renders (pure): the objects of helm's manifest, the Deployments and
Services among them as Slipway tracks them, Secrets redacted wherever a manifest is shown,
and a preview's diff of the rendered objects against the live ones.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import yaml
from pydantic import ValidationError

from slipway_contracts.entities import Resources

Json = dict[str, Any]
REDACTED = "<redacted>"
REDACTED_BEFORE = "<redacted: the live value>"
REDACTED_AFTER = "<redacted: a new value>"
# A Deployment without progressDeadlineSeconds gets Kubernetes' default.
DEFAULT_PROGRESS_DEADLINE_S = 600
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
PROTOCOLS = ("TCP", "UDP")
_DOCUMENT_SEPARATOR = re.compile(r"(?m)^---[ \t]*$")


class ObjectKey(NamedTuple):
    """What names an object in a cluster: kind, namespace and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _labels(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value).items()}


def objects_of(manifest: str) -> list[Json]:
    """The objects of a multi-document YAML manifest, in order (empty documents skipped)."""
    return [
        dict(document)
        for document in yaml.safe_load_all(manifest)
        if isinstance(document, dict) and document.get("kind")
    ]


def key_of(obj: Mapping[str, Any], namespace: str) -> ObjectKey:
    """The object's key; one without a namespace is in the release's `namespace`."""
    metadata = _mapping(obj.get("metadata"))
    return ObjectKey(
        str(obj.get("kind")),
        str(metadata.get("namespace") or namespace),
        str(metadata.get("name") or ""),
    )


# --- the workloads Slipway tracks -------------------------------------------------------


@dataclass(frozen=True)
class RenderedDeployment:
    """A Deployment of the manifest, as its Deployment entity records it."""

    name: str
    namespace: str
    replicas: int
    image: str | None
    container_port: int | None
    pod_labels: dict[str, str]
    port_names: dict[str, int]
    progress_deadline_seconds: int
    resources: Resources | None


@dataclass(frozen=True)
class RenderedService:
    """A Service of the manifest, as its Service entity records it; `deployment` names the
    rendered Deployment whose pods its selector picks (None when none does)."""

    name: str
    namespace: str
    type: str
    port: int
    target_port: int
    protocol: str
    deployment: str | None


@dataclass(frozen=True)
class RenderedWorkloads:
    deployments: list[RenderedDeployment]
    services: list[RenderedService]
    untracked: list[str]
    """Services Slipway cannot record (no port, ExternalName, SCTP), as `Kind/name: why`."""


def _resources(container: Mapping[str, Any]) -> Resources | None:
    try:
        return Resources.model_validate(container.get("resources"))
    except ValidationError:
        return None  # partial or unusual amounts: the entity keeps Slipway's defaults


def _deployment(obj: Mapping[str, Any], namespace: str) -> RenderedDeployment:
    key = key_of(obj, namespace)
    spec = _mapping(obj.get("spec"))
    template = _mapping(spec.get("template"))
    containers = [_mapping(c) for c in _list(_mapping(template.get("spec")).get("containers"))]
    first = containers[0] if containers else {}
    ports = [_mapping(p) for p in _list(first.get("ports"))]
    port_names = {
        str(p["name"]): int(p["containerPort"])
        for c in containers
        for p in map(_mapping, _list(c.get("ports")))
        if p.get("name") and isinstance(p.get("containerPort"), int)
    }
    container_port = ports[0].get("containerPort") if ports else None
    deadline = spec.get("progressDeadlineSeconds")
    replicas = spec.get("replicas", 1)
    return RenderedDeployment(
        name=key.name,
        namespace=key.namespace,
        replicas=replicas if isinstance(replicas, int) and replicas >= 0 else 1,
        image=str(first["image"]) if first.get("image") else None,
        container_port=container_port if isinstance(container_port, int) else None,
        pod_labels=_labels(_mapping(template.get("metadata")).get("labels")),
        port_names=port_names,
        progress_deadline_seconds=min(
            max(deadline if isinstance(deadline, int) else DEFAULT_PROGRESS_DEADLINE_S, 10), 3600
        ),
        resources=_resources(first),
    )


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Whether a Service's selector picks pods with these labels."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _service(
    obj: Mapping[str, Any], namespace: str, deployments: Sequence[RenderedDeployment]
) -> RenderedService | str:
    key = key_of(obj, namespace)
    spec = _mapping(obj.get("spec"))
    kind = str(spec.get("type") or "ClusterIP")
    ports = [_mapping(p) for p in _list(spec.get("ports"))]
    if kind not in SERVICE_TYPES:
        return f"{key}: a {kind} Service has no pods behind it"
    if not ports or not isinstance(ports[0].get("port"), int):
        return f"{key}: it has no port"
    first = ports[0]
    protocol = str(first.get("protocol") or "TCP")
    if protocol not in PROTOCOLS:
        return f"{key}: Slipway records TCP and UDP Services only, not {protocol}"
    selector = _labels(spec.get("selector"))
    backend = next(
        (
            d
            for d in deployments
            if d.namespace == key.namespace and selects(selector, d.pod_labels)
        ),
        None,
    )
    target = first.get("targetPort")
    port = int(first["port"])
    if isinstance(target, str):
        # A named port: the container port of that name in the pods it selects.
        target = backend.port_names.get(target) if backend else None
    return RenderedService(
        name=key.name,
        namespace=key.namespace,
        type=kind,
        port=port,
        target_port=target if isinstance(target, int) and 0 < target < 65536 else port,
        protocol=protocol,
        deployment=backend.name if backend else None,
    )


def rendered_workloads(objects: Iterable[Mapping[str, Any]], namespace: str) -> RenderedWorkloads:
    """The Deployments and Services among a release's objects (others are the chart's
    business alone: ConfigMaps, Secrets, ...)."""
    objects = list(objects)
    deployments = [
        _deployment(o, namespace)
        for o in objects
        if o.get("kind") == "Deployment" and str(o.get("apiVersion")) == "apps/v1"
    ]
    services: list[RenderedService] = []
    untracked: list[str] = []
    for obj in objects:
        if obj.get("kind") != "Service" or obj.get("apiVersion") != "v1":
            continue
        found = _service(obj, namespace, deployments)
        if isinstance(found, str):
            untracked.append(found)
        else:
            services.append(found)
    return RenderedWorkloads(deployments, services, untracked)


# --- Secrets, shown -----------------------------------------------------------------------


def _secret_values(secret: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's values by key, decoded (`data` is base64; `stringData` wins, as on write)."""
    values: dict[str, str] = {}
    for key, encoded in _mapping(secret.get("data")).items():
        try:
            values[str(key)] = base64.b64decode(str(encoded), validate=True).decode(
                "utf-8", errors="replace"
            )
        except (binascii.Error, ValueError):
            values[str(key)] = str(encoded)
    values.update({str(k): str(v) for k, v in _mapping(secret.get("stringData")).items()})
    return values


def _is_secret(obj: Mapping[str, Any] | None) -> bool:
    return obj is not None and obj.get("kind") == "Secret"


def redacted(obj: Mapping[str, Any]) -> Json:
    """The object as it may be shown: a Secret's values replaced by `<redacted>`."""
    shown = dict(obj)
    if _is_secret(obj):
        shown.pop("stringData", None)
        shown["data"] = {key: REDACTED for key in sorted(_secret_values(obj))}
    return shown


def redact_manifest(manifest: str) -> str:
    """helm's manifest text with every Secret's values redacted (comments kept)."""
    documents = _DOCUMENT_SEPARATOR.split(manifest)
    shown = []
    for document in documents:
        try:
            obj = yaml.safe_load(document)
        except yaml.YAMLError:
            obj = None
        if isinstance(obj, dict) and _is_secret(obj):
            comments = [line for line in document.strip("\n").splitlines() if line.startswith("#")]
            body = yaml.safe_dump(redacted(obj), sort_keys=False)
            document = "\n" + "\n".join([*comments, body.rstrip("\n")]) + "\n"
        shown.append(document)
    return "---".join(shown)


# --- the preview's diff -----------------------------------------------------------------


def pruned(live: Any, shape: Any) -> Any:
    """`live` reduced to the fields `shape` sets: what the server fills in by itself
    (status, defaults, managed fields) is no change the chart makes."""
    if isinstance(shape, Mapping) and isinstance(live, Mapping):
        return {key: pruned(live[key], shape[key]) for key in shape if key in live}
    if isinstance(shape, list) and isinstance(live, list):
        return [pruned(item, like) for item, like in zip(live, shape, strict=False)] + list(
            live[len(shape) :]
        )
    return live


def _secret_views(before: Json | None, after: Json | None) -> tuple[Json | None, Json | None]:
    """Both sides of a Secret with their values redacted, saying which of them differ."""
    old = _secret_values(before) if before is not None else {}
    new = _secret_values(after) if after is not None else {}
    views: list[Json | None] = []
    for side, values, other, mark in (
        (before, old, new, REDACTED_BEFORE),
        (after, new, old, REDACTED_AFTER),
    ):
        if side is None:
            views.append(None)
            continue
        view = {k: v for k, v in side.items() if k != "stringData"}
        view["data"] = {
            key: REDACTED if other.get(key) == value else mark
            for key, value in sorted(values.items())
        }
        views.append(view)
    return views[0], views[1]


def _as_data(secret: Json) -> Json:
    """A Secret as the server keeps it: `stringData` folded into base64 `data`."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in _secret_values(secret).items()}
    return {**{k: v for k, v in secret.items() if k != "stringData"}, "data": encoded}


def _text(obj: Json | None) -> list[str]:
    return yaml.safe_dump(obj, sort_keys=True).splitlines() if obj is not None else []


@dataclass(frozen=True)
class ObjectChange:
    key: ObjectKey
    change: str  # created, changed or removed
    diff: str


def object_change(
    key: ObjectKey,
    live: Mapping[str, Any] | None,
    rendered: Json | None,
    shape: Json | None = None,
) -> ObjectChange | None:
    """How one object would change (None: it would not): the live object, pruned to what
    the manifest sets (`shape`, by default the rendered object), against the rendered one;
    either side None when absent."""
    if rendered is not None and _is_secret(rendered):
        rendered = _as_data(rendered)  # compared as the server keeps it
    shape = shape if shape is not None else rendered
    before: Json | None = None
    if live is not None:
        before = pruned(live, shape) if shape is not None else dict(live)
    if _is_secret(live) or _is_secret(rendered):
        before, rendered = _secret_views(before, rendered)
    if before == rendered:
        return None
    change = "created" if live is None else "removed" if rendered is None else "changed"
    lines = difflib.unified_diff(
        _text(before),
        _text(rendered),
        fromfile=f"live {key.kind} {key.namespace}/{key.name}",
        tofile=f"rendered {key.kind} {key.namespace}/{key.name}",
        lineterm="",
    )
    return ObjectChange(key, change, "\n".join(lines) + "\n")


def preview_changes(
    rendered: Sequence[Json],
    live: Mapping[ObjectKey, Mapping[str, Any] | None],
    previous: Sequence[Json],
    namespace: str,
) -> list[ObjectChange]:
    """Every object an install or upgrade would create, change or remove: the rendered
    ones against what is live, then those of the `previous` manifest it no longer renders."""
    changes = []
    keys = set()
    for obj in rendered:
        key = key_of(obj, namespace)
        keys.add(key)
        found = object_change(key, live.get(key), obj)
        if found is not None:
            changes.append(found)
    for obj in previous:
        key = key_of(obj, namespace)
        if key not in keys and live.get(key) is not None:
            found = object_change(key, live[key], None, obj)
            if found is not None:
                changes.append(found)
    return changes


# --- the entities that track them ---------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """Where a release's workloads are and whose they are."""

    cluster_id: str
    chart_id: str
    release_id: str

    def fields(self) -> dict[str, str]:
        return {
            "cluster_id": self.cluster_id,
            "chart_id": self.chart_id,
            "release_id": self.release_id,
        }


def deployment_fields(
    deployment: RenderedDeployment, owner: Owner, image_ids: Mapping[str, str]
) -> dict[str, Any]:
    """The Deployment entity's fields for a rendered Deployment; `image_ids` maps the
    references of the release's images to their ids (an image the chart names itself has
    none)."""
    fields: dict[str, Any] = {
        **owner.fields(),
        "name": deployment.name,
        "namespace": deployment.namespace,
        "image": deployment.image,
        "image_id": image_ids.get(deployment.image) if deployment.image else None,
        "replicas": deployment.replicas,
        "container_port": deployment.container_port,
        "progress_deadline_seconds": deployment.progress_deadline_seconds,
        "placement": None,  # the chart places its pods; Slipway renders no placement
    }
    if deployment.resources is not None:
        fields["resources"] = deployment.resources.model_dump()
    return fields


def service_fields(
    service: RenderedService, owner: Owner, deployment_id: str | None
) -> dict[str, Any]:
    """The Service entity's fields for a rendered Service (`deployment_id`: the entity of
    the Deployment it selects)."""
    return {
        **owner.fields(),
        "name": service.name,
        "namespace": service.namespace,
        "deployment_id": deployment_id,
        "type": service.type,
        "port": service.port,
        "target_port": service.target_port,
        "protocol": service.protocol,
    }
