"""What the workload-manager knows of images, charts and clusters: read models built from
the other services' events on SLIPWAY_EVENTS (never from their databases)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from slipway_contracts import subjects

PROJECTED = (subjects.CONTAINER_IMAGE, subjects.HELM_CHART, subjects.MINIKUBE_CLUSTER)


@dataclass(frozen=True)
class ProjectedImage:
    id: str
    status: str
    name: str
    tag: str
    digest: str | None = None
    reason: str | None = None
    # Where the image-builder pushed it (`127.0.0.1:5000/team/app`); its digest is then the
    # registry's manifest digest.
    repository: str | None = None
    # What its latest scan found that an enforced image policy refuses (root user, critical).
    critical_findings: list[str] = field(default_factory=list)
    created_at: str | None = None  # ISO-8601: where the lead time of a deployment starts
    runs_as_root: bool = False  # its scan's non-root policy finding, or its user (root, 0, '')

    @property
    def reference(self) -> str:
        """`name:tag`, how a Deployment names the image."""
        return f"{self.name}:{self.tag}"

    @property
    def pushed_reference(self) -> str | None:
        """`<repository>@<digest>` once the image was pushed to its registry, else None.

        A cluster pulls a pushed image itself (the rule is "pushed → pull, else load":
        Slipway cannot know whether a minikube or attached cluster reaches the registry)."""
        if self.repository and self.digest:
            return f"{self.repository}@{self.digest}"
        return None


@dataclass(frozen=True)
class ProjectedChart:
    id: str
    status: str
    name: str = ""
    reason: str | None = None


@dataclass(frozen=True)
class ProjectedCluster:
    id: str
    name: str
    status: str
    reason: str | None = None
    api_server: str | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class ProjectedEvent:
    """One event as a projection needs it: which row, which version, the new fields."""

    entity: str
    event: str
    entity_id: str
    entityversion: int
    fields: dict[str, Any]

    @property
    def deletes(self) -> bool:
        return self.event == "deleted"

    @property
    def key(self) -> tuple[str, str]:
        """The row it writes: (entity, id)."""
        return (self.entity, self.entity_id)

    @property
    def reacts(self) -> bool:
        """Whether its projection is reacted to (nothing refers to an entity just made)."""
        return self.event != "created"


def waves(events: list[ProjectedEvent]) -> list[list[ProjectedEvent]]:
    """A batch of events cut, in order, into waves that are written at once and then reacted
    to: a reaction reads its entity's row, so a wave never holds a later event of an entity
    after one to react to (it would see the later state). A `created` event and the next
    one of that entity share a wave, which is all a burst of creates needs."""
    cut: list[list[ProjectedEvent]] = []
    reacted: set[tuple[str, str]] = set()  # entities of the open wave with a reaction due
    for event in events:
        if not cut or event.key in reacted:
            cut.append([])
            reacted = set()
        cut[-1].append(event)
        if event.reacts:
            reacted.add(event.key)
    return cut


def newest(events: list[ProjectedEvent]) -> list[ProjectedEvent]:
    """The newest event of each entity among `events` (a row keeps newer versions only)."""
    kept: dict[tuple[str, str], ProjectedEvent] = {}
    for event in events:
        held = kept.get(event.key)
        if held is None or event.entityversion > held.entityversion:
            kept[event.key] = event
    return list(kept.values())


def critical_findings(scan: Any) -> list[str]:
    """The findings of an image's scan (an event's `scan`) that the enforced policy refuses:
    every critical one (secrets are critical) and every policy one (a root user)."""
    if not isinstance(scan, dict):
        return []
    named = []
    for finding in scan.get("findings") or []:
        if finding.get("kind") == "policy" or finding.get("severity") == "CRITICAL":
            where = f" in {finding['file']}" if finding.get("file") else ""
            named.append(f"{finding.get('kind')} {finding.get('rule')}{where}")
    return named


ROOT_RULE = "non-root-user"  # the image-builder's policy rule of an image running as root


def runs_as_root(data: dict[str, Any]) -> bool:
    """Whether an image (an event's snapshot) runs as root: its scan says so, or its
    inspected `user` is unset, `root` or uid 0."""
    scan = data.get("scan")
    findings = (scan.get("findings") if isinstance(scan, dict) else None) or []
    if any(finding.get("rule") == ROOT_RULE for finding in findings):
        return True
    user = data.get("user")
    return user is not None and str(user).split(":", 1)[0].strip() in ("", "root", "0")


# The row of each projection: the fields of its class, from the event's entity snapshot.
def _image_fields(data: dict[str, Any]) -> dict[str, Any]:
    name, tag = str(data.get("name", "")), str(data.get("tag", ""))
    return {
        "status": str(data.get("status")),
        "name": name,
        "tag": tag,
        "reference": f"{name}:{tag}",
        "digest": data.get("digest"),
        "reason": data.get("reason"),
        "repository": data.get("repository"),
        "critical_findings": critical_findings(data.get("scan")),
        "created_at": data.get("created_at"),
        "runs_as_root": runs_as_root(data),
    }


def _chart_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": str(data.get("status")),
        "name": str(data.get("name", "")),
        "reason": data.get("reason"),
    }


def _cluster_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": str(data.get("status")),
        "name": str(data.get("name", "")),
        "reason": data.get("reason"),
        "api_server": data.get("api_server"),
    }


_FIELDS = {
    subjects.CONTAINER_IMAGE: _image_fields,
    subjects.HELM_CHART: _chart_fields,
    subjects.MINIKUBE_CLUSTER: _cluster_fields,
}


class NotProjected(ValueError):
    """The message is not an event of an entity this service projects."""


def parse_event(envelope: dict[str, Any]) -> ProjectedEvent:
    """The projection-relevant part of a CloudEvent; NotProjected when it is not one of ours."""
    kind = str(envelope.get("type", ""))
    parts = kind.split(".")
    # io.slipway.<entity>.<event>.v1
    if len(parts) != 5 or parts[:2] != ["io", "slipway"] or parts[2] not in _FIELDS:
        raise NotProjected(f"not an event this service projects: type '{kind}'")
    entity, event = parts[2], parts[3]
    data = envelope.get("data")
    entity_id = envelope.get("subject")
    version = envelope.get("entityversion")
    if not isinstance(data, dict) or not entity_id or not isinstance(version, int):
        raise NotProjected(f"malformed {kind} event: subject, entityversion or data missing")
    return ProjectedEvent(entity, event, str(entity_id), version, _FIELDS[entity](data))


def from_snapshot(entity: str, data: dict[str, Any]) -> ProjectedEvent:
    """The owner's current snapshot (a `query.get` answer) as if it were its latest event:
    its `revision` is the `entityversion` that event carries."""
    revision = data.get("revision")
    if entity not in _FIELDS or not data.get("id") or not isinstance(revision, int):
        raise NotProjected(f"malformed {entity} snapshot: id or revision missing")
    return ProjectedEvent(entity, "snapshot", str(data["id"]), revision, _FIELDS[entity](data))


P = TypeVar("P", ProjectedImage, ProjectedChart, ProjectedCluster)


def from_row(kind: type[P], row: dict[str, Any]) -> P:
    """The projection `kind` as its row keeps it (the row's `_id` is the entity id)."""
    kept = {f.name: row[f.name] for f in fields(kind) if f.name != "id" and f.name in row}
    return kind(id=str(row["_id"]), **kept)
