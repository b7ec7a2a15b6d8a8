"""Table columns shared by every kind, and the columns of the kinds beyond pods,
Deployments and Services (what `kubectl get` prints for them on a real cluster)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slipway_simcluster.meta import human_age, parse_time

Row = Callable[[dict[str, Any], float], list[Any]]
_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def column(
    name: str, description: str = "", *, fmt: str = "", kind: str = "string", priority: int = 0
) -> dict[str, Any]:
    """One column definition of a Table."""
    return {
        "name": name,
        "type": kind,
        "format": fmt,
        "description": description or name,
        "priority": priority,
    }


NAME = column("Name", "Name must be unique within a namespace.", fmt="name")
AGE = column("Age", "CreationTimestamp is the time the object was created.")


def age(obj: dict[str, Any], now: float) -> str:
    """The object's age as kubectl prints it."""
    return human_age((obj.get("metadata") or {}).get("creationTimestamp"), now)


def name_of(obj: dict[str, Any]) -> str:
    """The object's name."""
    return str((obj.get("metadata") or {}).get("name", ""))


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec") or {}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _containers(template: Any) -> list[dict[str, Any]]:
    return ((template or {}).get("spec") or {}).get("containers") or []


def _selector(selector: Any) -> str:
    labels = (selector or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"


def _created_at(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp", ""))


def _configmap(obj: dict[str, Any], now: float) -> list[Any]:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [name_of(obj), count, age(obj, now)]


def _service_account(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), len(obj.get("secrets") or []), age(obj, now)]


def _pdb(obj: dict[str, Any], now: float) -> list[Any]:
    spec = _spec(obj)
    return [
        name_of(obj),
        str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
        str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
        int(_status(obj).get("disruptionsAllowed", 0)),
        age(obj, now),
    ]


def _statefulset(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    containers = _containers(spec.get("template"))
    return [
        name_of(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        age(obj, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    ]


def _daemonset(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    containers = _containers(spec.get("template"))
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [
        name_of(obj),
        int(status.get("desiredNumberScheduled", 0)),
        int(status.get("currentNumberScheduled", 0)),
        int(status.get("numberReady", 0)),
        int(status.get("updatedNumberScheduled", 0)),
        int(status.get("numberAvailable", 0)),
        ",".join(f"{k}={v}" for k, v in node_selector.items()) or "<none>",
        age(obj, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        _selector(spec.get("selector")),
    ]


def _job_state(obj: dict[str, Any]) -> str:
    for condition in _status(obj).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in (
            "Complete",
            "Failed",
            "Suspended",
        ):
            return str(condition["type"])
    return "Running"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _job(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    started = parse_time(status.get("startTime"))
    ended = parse_time(status.get("completionTime")) or now
    containers = _containers(spec.get("template"))
    return [
        name_of(obj),
        _job_state(obj),
        f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}",
        _duration(ended - started) if started else "",
        age(obj, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        _selector(spec.get("selector")),
    ]


def _cronjob(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    last = status.get("lastScheduleTime")
    return [
        name_of(obj),
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        "True" if spec.get("suspend") else "False",
        len(status.get("active") or []),
        human_age(last, now) if last else "<none>",
        age(obj, now),
    ]


def _modes(modes: Any) -> str:
    return ",".join(_ACCESS_MODES.get(m, m) for m in modes or [])


def _claim(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    return [
        name_of(obj),
        status.get("phase", ""),
        spec.get("volumeName", ""),
        (status.get("capacity") or {}).get("storage", ""),
        _modes(status.get("accessModes")),
        spec.get("storageClassName") or "",
        "<unset>",
        age(obj, now),
        spec.get("volumeMode", ""),
    ]


def _volume(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    claim = spec.get("claimRef") or {}
    return [
        name_of(obj),
        (spec.get("capacity") or {}).get("storage", ""),
        _modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        status.get("phase", ""),
        f"{claim.get('namespace')}/{claim.get('name')}" if claim else "",
        spec.get("storageClassName", ""),
        "<unset>",
        status.get("reason", ""),
        age(obj, now),
        spec.get("volumeMode", ""),
    ]


def _storage_class(obj: dict[str, Any], now: float) -> list[Any]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    default = annotations.get("storageclass.kubernetes.io/is-default-class") == "true"
    return [
        name_of(obj) + (" (default)" if default else ""),
        obj.get("provisioner", ""),
        obj.get("reclaimPolicy", "Delete"),
        obj.get("volumeBindingMode", "Immediate"),
        bool(obj.get("allowVolumeExpansion", False)),
        age(obj, now),
    ]


def _ingress(obj: dict[str, Any], now: float) -> list[Any]:
    spec = _spec(obj)
    hosts = [rule.get("host") for rule in spec.get("rules") or [] if rule.get("host")]
    addresses = [
        entry.get("ip") or entry.get("hostname", "")
        for entry in ((_status(obj).get("loadBalancer") or {}).get("ingress") or [])
    ]
    return [
        name_of(obj),
        spec.get("ingressClassName") or "<none>",
        ",".join(hosts) or "*",
        ",".join(addresses),
        "80, 443" if spec.get("tls") else "80",
        age(obj, now),
    ]


def _hpa(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = _spec(obj), _status(obj)
    target = spec.get("scaleTargetRef") or {}
    return [
        name_of(obj),
        f"{target.get('kind', '')}/{target.get('name', '')}",
        "<unknown>",
        spec.get("minReplicas", 1),
        spec.get("maxReplicas", 0),
        int(status.get("currentReplicas", 0)),
        age(obj, now),
    ]


def _role(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), _created_at(obj)]


def _binding(obj: dict[str, Any], now: float) -> list[Any]:
    ref = obj.get("roleRef") or {}
    return [name_of(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", age(obj, now)]


def _network_policy(obj: dict[str, Any], now: float) -> list[Any]:
    selector = _spec(obj).get("podSelector") or {}
    labels = selector.get("matchLabels") or {}
    shown = ",".join(f"{k}={v}" for k, v in labels.items()) or "<none>"
    return [name_of(obj), shown, age(obj, now)]


def _priority_class(obj: dict[str, Any], now: float) -> list[Any]:
    return [
        name_of(obj),
        obj.get("value", 0),
        bool(obj.get("globalDefault", False)),
        age(obj, now),
        obj.get("preemptionPolicy", "PreemptLowerPriority"),
    ]


def _ingress_class(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), _spec(obj).get("controller", ""), "<none>", age(obj, now)]


def _controller_revision(obj: dict[str, Any], now: float) -> list[Any]:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    owner: dict[str, Any] = next((ref for ref in owners if ref.get("controller")), {})
    controller = (
        f"{str(owner.get('kind', '')).lower()}.{str(owner.get('apiVersion', '')).split('/')[0]}/"
        f"{owner.get('name', '')}"
        if owner
        else "<none>"
    )
    return [name_of(obj), controller, obj.get("revision", 0), age(obj, now)]


_CONTAINERS = [column("Containers", priority=1), column("Images", priority=1)]
MORE_LAYOUTS: dict[str, tuple[list[dict[str, Any]], Row]] = {
    "ConfigMap": ([NAME, column("Data", kind="integer"), AGE], _configmap),
    "ServiceAccount": ([NAME, column("Secrets", kind="integer"), AGE], _service_account),
    "PodDisruptionBudget": (
        [
            NAME,
            column("Min Available"),
            column("Max Unavailable"),
            column("Allowed Disruptions", kind="integer"),
            AGE,
        ],
        _pdb,
    ),
    "StatefulSet": ([NAME, column("Ready"), AGE, *_CONTAINERS], _statefulset),
    "DaemonSet": (
        [
            NAME,
            column("Desired", kind="integer"),
            column("Current", kind="integer"),
            column("Ready", kind="integer"),
            column("Up-to-date", kind="integer"),
            column("Available", kind="integer"),
            column("Node Selector"),
            AGE,
            *_CONTAINERS,
            column("Selector", priority=1),
        ],
        _daemonset,
    ),
    "Job": (
        [
            NAME,
            column("Status"),
            column("Completions"),
            column("Duration"),
            AGE,
            *_CONTAINERS,
            column("Selector", priority=1),
        ],
        _job,
    ),
    "CronJob": (
        [
            NAME,
            column("Schedule"),
            column("Timezone"),
            column("Suspend"),
            column("Active", kind="integer"),
            column("Last Schedule"),
            AGE,
        ],
        _cronjob,
    ),
    "PersistentVolumeClaim": (
        [
            NAME,
            column("Status"),
            column("Volume"),
            column("Capacity"),
            column("Access Modes"),
            column("StorageClass"),
            column("VolumeAttributesClass"),
            AGE,
            column("VolumeMode", priority=1),
        ],
        _claim,
    ),
    "PersistentVolume": (
        [
            NAME,
            column("Capacity"),
            column("Access Modes"),
            column("Reclaim Policy"),
            column("Status"),
            column("Claim"),
            column("StorageClass"),
            column("VolumeAttributesClass"),
            column("Reason"),
            AGE,
            column("VolumeMode", priority=1),
        ],
        _volume,
    ),
    "StorageClass": (
        [
            NAME,
            column("Provisioner"),
            column("ReclaimPolicy"),
            column("VolumeBindingMode"),
            column("AllowVolumeExpansion", kind="boolean"),
            AGE,
        ],
        _storage_class,
    ),
    "Ingress": (
        [NAME, column("Class"), column("Hosts"), column("Address"), column("Ports"), AGE],
        _ingress,
    ),
    "HorizontalPodAutoscaler": (
        [
            NAME,
            column("Reference"),
            column("Targets"),
            column("MinPods", kind="integer"),
            column("MaxPods", kind="integer"),
            column("Replicas", kind="integer"),
            AGE,
        ],
        _hpa,
    ),
    "Role": ([NAME, column("Created At", fmt="date")], _role),
    "ClusterRole": ([NAME, column("Created At", fmt="date")], _role),
    "CustomResourceDefinition": ([NAME, column("Created At", fmt="date")], _role),
    "RoleBinding": ([NAME, column("Role"), AGE], _binding),
    "ClusterRoleBinding": ([NAME, column("Role"), AGE], _binding),
    "NetworkPolicy": ([NAME, column("Pod-Selector"), AGE], _network_policy),
    "PriorityClass": (
        [
            NAME,
            column("Value", kind="integer"),
            column("Global-Default", kind="boolean"),
            AGE,
            column("PreemptionPolicy"),
        ],
        _priority_class,
    ),
    "IngressClass": ([NAME, column("Controller"), column("Parameters"), AGE], _ingress_class),
    "ControllerRevision": (
        [NAME, column("Controller"), column("Revision", kind="integer"), AGE],
        _controller_revision,
    ),
}
