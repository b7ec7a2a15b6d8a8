"""The resource types the simulated cluster serves, and their discovery documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_READ = ["get", "list", "watch"]
_CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    """One served resource (`deployments` in `apps/v1`, `pods` in `v1`, …)."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    verbs: list[str] = field(default_factory=lambda: list(_CRUD))
    short_names: list[str] = field(default_factory=list)
    subresources: dict[str, str] = field(default_factory=dict)  # name -> kind
    categories: list[str] = field(default_factory=list)

    @property
    def api_version(self) -> str:
        """`apps/v1` or `v1`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Store key: `deployments.apps`, `pods`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


NAMESPACES = ResourceType(
    "",
    "v1",
    "namespaces",
    "namespace",
    "Namespace",
    namespaced=False,
    verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
    short_names=["ns"],
    subresources={"status": "Namespace"},
)
NODES = ResourceType(
    "", "v1", "nodes", "node", "Node", namespaced=False, verbs=_READ, short_names=["no"]
)
PODS = ResourceType(
    "",
    "v1",
    "pods",
    "pod",
    "Pod",
    namespaced=True,
    short_names=["po"],
    subresources={"status": "Pod", "log": "Pod"},
    categories=["all"],
)
SERVICES = ResourceType(
    "",
    "v1",
    "services",
    "service",
    "Service",
    namespaced=True,
    verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
    short_names=["svc"],
    subresources={"status": "Service"},
    categories=["all"],
)
ENDPOINTS = ResourceType(
    "", "v1", "endpoints", "endpoints", "Endpoints", namespaced=True, short_names=["ep"]
)
EVENTS = ResourceType("", "v1", "events", "event", "Event", namespaced=True, short_names=["ev"])
SECRETS = ResourceType("", "v1", "secrets", "secret", "Secret", namespaced=True)
CONFIGMAPS = ResourceType(
    "", "v1", "configmaps", "configmap", "ConfigMap", namespaced=True, short_names=["cm"]
)
SERVICE_ACCOUNTS = ResourceType(
    "",
    "v1",
    "serviceaccounts",
    "serviceaccount",
    "ServiceAccount",
    namespaced=True,
    short_names=["sa"],
)
DEPLOYMENTS = ResourceType(
    "apps",
    "v1",
    "deployments",
    "deployment",
    "Deployment",
    namespaced=True,
    short_names=["deploy"],
    subresources={"status": "Deployment", "scale": "Scale"},
    categories=["all"],
)
# Owned by Deployments and written by the simulated controller only; users read or delete them.
REPLICASETS = ResourceType(
    "apps",
    "v1",
    "replicasets",
    "replicaset",
    "ReplicaSet",
    namespaced=True,
    verbs=["delete", "deletecollection", "get", "list", "watch"],
    short_names=["rs"],
    categories=["all"],
)

ALL_RESOURCES: list[ResourceType] = [
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    ENDPOINTS,
    EVENTS,
    SECRETS,
    CONFIGMAPS,
    SERVICE_ACCOUNTS,
    DEPLOYMENTS,
    REPLICASETS,
]
NAMESPACED_RESOURCES = [rt for rt in ALL_RESOURCES if rt.namespaced]
BY_KEY = {rt.key: rt for rt in ALL_RESOURCES}
GROUP_VERSIONS = {"v1": "", "apps/v1": "apps"}


def find(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at `/api(s)/group/version/plural`, if any."""
    for rt in ALL_RESOURCES:
        if rt.group == group and rt.version == version and rt.plural == plural:
            return rt
    return None


def api_versions(server_address: str) -> dict[str, Any]:
    """`GET /api`: the legacy core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_entry() -> dict[str, Any]:
    version = {"groupVersion": "apps/v1", "version": "v1"}
    return {"name": "apps", "versions": [version], "preferredVersion": version}


def api_group_list() -> dict[str, Any]:
    """`GET /apis`: every named group served."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry()]}


def api_group(group: str) -> dict[str, Any] | None:
    """`GET /apis/<group>`."""
    if group != "apps":
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry()}


def api_resource_list(group_version: str) -> dict[str, Any] | None:
    """`GET /api/v1` or `/apis/apps/v1`: the resources of one group version."""
    if group_version not in GROUP_VERSIONS:
        return None
    group = GROUP_VERSIONS[group_version]
    resources: list[dict[str, Any]] = []
    for rt in ALL_RESOURCES:
        if rt.group != group:
            continue
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": rt.verbs,
        }
        if rt.short_names:
            entry["shortNames"] = rt.short_names
        if rt.categories:
            entry["categories"] = rt.categories
        resources.append(entry)
        for sub, kind in rt.subresources.items():
            sub_entry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": kind,
                "verbs": ["get"] if sub == "log" else ["get", "patch", "update"],
            }
            if sub == "scale":
                sub_entry.update(group="autoscaling", version="v1")
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }
