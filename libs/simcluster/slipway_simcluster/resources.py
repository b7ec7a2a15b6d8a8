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
    custom: bool = False  # served for a CustomResourceDefinition

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


def _served(
    api_version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short_names: tuple[str, ...] = (),
    subresources: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    verbs: list[str] | None = None,
) -> ResourceType:
    """A kind stored generically: full CRUD, optional `status`/`scale` subresources."""
    group, _, version = api_version.rpartition("/")
    kinds = {"status": kind, "scale": "Scale"}
    return ResourceType(
        group,
        version,
        plural,
        kind.lower(),
        kind,
        namespaced=namespaced,
        verbs=list(verbs or _CRUD),
        short_names=list(short_names),
        subresources={name: kinds[name] for name in subresources},
        categories=list(categories),
    )


_ALL = ("all",)
PERSISTENT_VOLUME_CLAIMS = _served(
    "v1",
    "persistentvolumeclaims",
    "PersistentVolumeClaim",
    short_names=("pvc",),
    subresources=("status",),
)
PERSISTENT_VOLUMES = _served(
    "v1",
    "persistentvolumes",
    "PersistentVolume",
    namespaced=False,
    short_names=("pv",),
    subresources=("status",),
)
STATEFULSETS = _served(
    "apps/v1",
    "statefulsets",
    "StatefulSet",
    short_names=("sts",),
    subresources=("status", "scale"),
    categories=_ALL,
)
DAEMONSETS = _served(
    "apps/v1",
    "daemonsets",
    "DaemonSet",
    short_names=("ds",),
    subresources=("status",),
    categories=_ALL,
)
CONTROLLER_REVISIONS = _served("apps/v1", "controllerrevisions", "ControllerRevision")
JOBS = _served("batch/v1", "jobs", "Job", subresources=("status",), categories=_ALL)
CRONJOBS = _served(
    "batch/v1",
    "cronjobs",
    "CronJob",
    short_names=("cj",),
    subresources=("status",),
    categories=_ALL,
)
POD_DISRUPTION_BUDGETS = _served(
    "policy/v1",
    "poddisruptionbudgets",
    "PodDisruptionBudget",
    short_names=("pdb",),
    subresources=("status",),
)
HORIZONTAL_POD_AUTOSCALERS = _served(
    "autoscaling/v2",
    "horizontalpodautoscalers",
    "HorizontalPodAutoscaler",
    short_names=("hpa",),
    subresources=("status",),
    categories=_ALL,
)
STORAGE_CLASSES = _served(
    "storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False, short_names=("sc",)
)
CUSTOM_RESOURCE_DEFINITIONS = _served(
    "apiextensions.k8s.io/v1",
    "customresourcedefinitions",
    "CustomResourceDefinition",
    namespaced=False,
    short_names=("crd", "crds"),
    subresources=("status",),
)

# Kinds with no simulated behaviour: stored, listed, watched and patched like any object.
_STORED_ONLY = [
    _served("v1", "limitranges", "LimitRange", short_names=("limits",)),
    _served("v1", "podtemplates", "PodTemplate"),
    _served(
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        short_names=("rc",),
        subresources=("status", "scale"),
        categories=_ALL,
    ),
    _served(
        "v1", "resourcequotas", "ResourceQuota", short_names=("quota",), subresources=("status",)
    ),
    _served(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        namespaced=False,
    ),
    _served(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        namespaced=False,
    ),
    _served(
        "admissionregistration.k8s.io/v1",
        "validatingadmissionpolicies",
        "ValidatingAdmissionPolicy",
        namespaced=False,
        subresources=("status",),
    ),
    _served(
        "admissionregistration.k8s.io/v1",
        "validatingadmissionpolicybindings",
        "ValidatingAdmissionPolicyBinding",
        namespaced=False,
    ),
    _served(
        "apiregistration.k8s.io/v1",
        "apiservices",
        "APIService",
        namespaced=False,
        subresources=("status",),
    ),
    _served(
        "certificates.k8s.io/v1",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        namespaced=False,
        short_names=("csr",),
        subresources=("status",),
    ),
    _served("coordination.k8s.io/v1", "leases", "Lease"),
    _served("discovery.k8s.io/v1", "endpointslices", "EndpointSlice"),
    _served(
        "flowcontrol.apiserver.k8s.io/v1",
        "flowschemas",
        "FlowSchema",
        namespaced=False,
        subresources=("status",),
    ),
    _served(
        "flowcontrol.apiserver.k8s.io/v1",
        "prioritylevelconfigurations",
        "PriorityLevelConfiguration",
        namespaced=False,
        subresources=("status",),
    ),
    _served("networking.k8s.io/v1", "ingressclasses", "IngressClass", namespaced=False),
    _served(
        "networking.k8s.io/v1",
        "ingresses",
        "Ingress",
        short_names=("ing",),
        subresources=("status",),
    ),
    _served("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",)),
    _served("node.k8s.io/v1", "runtimeclasses", "RuntimeClass", namespaced=False),
    _served(
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
    ),
    _served("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", namespaced=False),
    _served("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    _served("rbac.authorization.k8s.io/v1", "roles", "Role"),
    _served(
        "scheduling.k8s.io/v1",
        "priorityclasses",
        "PriorityClass",
        namespaced=False,
        short_names=("pc",),
    ),
    _served("storage.k8s.io/v1", "csidrivers", "CSIDriver", namespaced=False),
    _served("storage.k8s.io/v1", "csinodes", "CSINode", namespaced=False),
    _served("storage.k8s.io/v1", "csistoragecapacities", "CSIStorageCapacity"),
    _served(
        "storage.k8s.io/v1",
        "volumeattachments",
        "VolumeAttachment",
        namespaced=False,
        subresources=("status",),
    ),
]

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
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    DEPLOYMENTS,
    REPLICASETS,
    STATEFULSETS,
    DAEMONSETS,
    CONTROLLER_REVISIONS,
    JOBS,
    CRONJOBS,
    POD_DISRUPTION_BUDGETS,
    HORIZONTAL_POD_AUTOSCALERS,
    STORAGE_CLASSES,
    CUSTOM_RESOURCE_DEFINITIONS,
    *_STORED_ONLY,
]
NAMESPACED_RESOURCES = [rt for rt in ALL_RESOURCES if rt.namespaced]
BY_KEY = {rt.key: rt for rt in ALL_RESOURCES}
# Group versions in the order a real API server lists them (`kubectl api-versions`).
_GROUP_ORDER = [
    "",
    "apiregistration.k8s.io",
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
]
GROUP_VERSIONS: dict[str, str] = {
    gv: group
    for group in _GROUP_ORDER
    for gv in sorted({rt.api_version for rt in ALL_RESOURCES if rt.group == group})
}


def find(group: str, version: str, plural: str) -> ResourceType | None:
    """The built-in resource served at `/api(s)/group/version/plural`, if any."""
    return BUILTIN.find(group, version, plural)


def api_versions(server_address: str) -> dict[str, Any]:
    """`GET /api`: the legacy core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _subresource_verbs(sub: str) -> list[str]:
    return ["get"] if sub == "log" else ["get", "patch", "update"]


class Catalog:
    """The resource types one cluster serves: the built-in kinds, and the custom resources
    its CustomResourceDefinitions add (registered by the simulated CRD controller)."""

    def __init__(self) -> None:
        self._custom: dict[str, list[ResourceType]] = {}  # CRD name -> its served versions
        self.generation = 0  # bumped on every change, for discovery and OpenAPI hashes

    @property
    def resources(self) -> list[ResourceType]:
        """Every served type, built-in first."""
        custom = [rt for name in sorted(self._custom) for rt in self._custom[name]]
        return ALL_RESOURCES + custom

    def namespaced(self) -> list[ResourceType]:
        """Namespaced types, one per stored resource (custom resources once, not per version)."""
        seen: set[str] = set()
        found = []
        for rt in self.resources:
            if rt.namespaced and rt.key not in seen:
                seen.add(rt.key)
                found.append(rt)
        return found

    def set_custom(self, definition: str, types: list[ResourceType]) -> None:
        """Serve the versions of a CustomResourceDefinition (replacing earlier ones)."""
        if self._custom.get(definition) != types:
            self._custom[definition] = types
            self.generation += 1

    def remove_custom(self, definition: str) -> list[ResourceType]:
        """Stop serving a CustomResourceDefinition's resources; returns what was served."""
        removed = self._custom.pop(definition, [])
        if removed:
            self.generation += 1
        return removed

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource served at `/api(s)/group/version/plural`, if any."""
        for rt in self.resources:
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def by_key(self, key: str) -> ResourceType | None:
        """The type stored under a key (`deployments.apps`)."""
        return BY_KEY.get(key) or next((rt for rt in self.resources if rt.key == key), None)

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The resource of a kind (`apps/v1`, `Deployment`), as named in an ownerReference."""
        return next(
            (rt for rt in self.resources if rt.api_version == api_version and rt.kind == kind),
            None,
        )

    def group_versions(self) -> dict[str, str]:
        """Served group versions (`apps/v1` -> `apps`), in a real server's order."""
        versions = dict(GROUP_VERSIONS)
        for rt in self.resources:
            versions.setdefault(rt.api_version, rt.group)
        return versions

    def _groups(self) -> list[str]:
        groups: list[str] = []
        for group in self.group_versions().values():
            if group and group not in groups:
                groups.append(group)
        return groups

    def _group_entry(self, group: str) -> dict[str, Any]:
        versions = [
            {"groupVersion": gv, "version": gv.rpartition("/")[2]}
            for gv, served_group in self.group_versions().items()
            if served_group == group
        ]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def api_group_list(self) -> dict[str, Any]:
        """`GET /apis`: every named group served."""
        groups = [self._group_entry(group) for group in self._groups()]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_group(self, group: str) -> dict[str, Any] | None:
        """`GET /apis/<group>`."""
        if group not in self._groups():
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group)}

    def api_resource_list(self, group_version: str) -> dict[str, Any] | None:
        """`GET /api/v1` or `/apis/<group>/<version>`: the resources of one group version."""
        if group_version not in self.group_versions():
            return None
        resources: list[dict[str, Any]] = []
        for rt in self.resources:
            if rt.api_version != group_version:
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
                    "verbs": _subresource_verbs(sub),
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

    def aggregated_discovery(self, core: bool) -> dict[str, Any]:
        """`GET /api` (core) or `/apis` as an apidiscovery.k8s.io/v2 `APIGroupDiscoveryList`."""
        groups = [""] if core else self._groups()
        items = []
        for group in groups:
            versions = [
                {
                    "version": gv.rpartition("/")[2],
                    "resources": [
                        _discovery_resource(rt) for rt in self.resources if rt.api_version == gv
                    ],
                    "freshness": "Current",
                }
                for gv, served_group in self.group_versions().items()
                if served_group == group
            ]
            items.append(
                {"metadata": {"name": group, "creationTimestamp": None}, "versions": versions}
            )
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        }


# Aggregated discovery (apidiscovery.k8s.io/v2): what kubectl asks /api and /apis for first,
# saving one request per group version.
AGGREGATED_DISCOVERY_CONTENT_TYPE = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
)


def wants_aggregated_discovery(accept: str) -> bool:
    """True if the client accepts the aggregated discovery document of apidiscovery/v2."""
    for media_range in accept.split(","):
        params = {p.strip() for p in media_range.split(";")[1:]}
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
    return False


def _discovery_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": rt.verbs,
    }
    if rt.short_names:
        entry["shortNames"] = rt.short_names
    if rt.categories:
        entry["categories"] = rt.categories
    subresources = []
    for sub, kind in rt.subresources.items():
        group, version = ("autoscaling", "v1") if sub == "scale" else (rt.group, rt.version)
        subresources.append(
            {
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "verbs": _subresource_verbs(sub),
            }
        )
    if subresources:
        entry["subresources"] = subresources
    return entry


BUILTIN = Catalog()  # the built-in kinds only (no custom resources)
