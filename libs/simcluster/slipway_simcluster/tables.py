"""Server-side `Table` rendering, which `kubectl get` asks for (`Accept: …;as=Table`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from slipway_simcluster.meta import human_age

TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
Row = Callable[[dict[str, Any], float], list[Any]]


def wants_table(accept: str) -> bool:
    """True if the client asked for `meta.k8s.io` Tables."""
    return "as=Table" in accept


def _column(
    name: str, description: str = "", *, fmt: str = "", kind: str = "string", priority: int = 0
) -> dict[str, Any]:
    return {
        "name": name,
        "type": kind,
        "format": fmt,
        "description": description or name,
        "priority": priority,
    }


_NAME = _column("Name", "Name must be unique within a namespace.", fmt="name")
_AGE = _column("Age", "CreationTimestamp is the time the object was created.")


def _age(obj: dict[str, Any], now: float) -> str:
    return human_age((obj.get("metadata") or {}).get("creationTimestamp"), now)


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _namespace_row(obj: dict[str, Any], now: float) -> list[Any]:
    return [_name(obj), (obj.get("status") or {}).get("phase", ""), _age(obj, now)]


def _deployment_row(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = ",".join(
        f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items()
    )
    return [
        _name(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        int(status.get("updatedReplicas", 0)),
        int(status.get("availableReplicas", 0)),
        _age(obj, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        selector,
    ]


def _replica_set_row(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = ",".join(
        f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items()
    )
    return [
        _name(obj),
        int(spec.get("replicas", 0)),
        int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)),
        _age(obj, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        selector,
    ]


def _pod_phase(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"])
    return str(status.get("phase", "Pending"))


def _pod_row(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    total = len(spec.get("containers") or [])
    restarts = sum(int(c.get("restartCount", 0)) for c in containers)
    return [
        _name(obj),
        f"{ready}/{total}",
        _pod_phase(obj),
        restarts,
        _age(obj, now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        "<none>",
        "<none>",
    ]


def _service_row(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    if ingress:
        external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress)
    elif spec.get("type") == "LoadBalancer":
        external = "<pending>"
    else:
        external = "<none>"
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [
        _name(obj),
        spec.get("type", ""),
        spec.get("clusterIP", ""),
        external,
        ",".join(ports) or "<none>",
        _age(obj, now),
        selector,
    ]


def _endpoints_row(obj: dict[str, Any], now: float) -> list[Any]:
    addresses = []
    for subset in obj.get("subsets") or []:
        for address in subset.get("addresses") or []:
            for port in subset.get("ports") or []:
                addresses.append(f"{address.get('ip')}:{port.get('port')}")
    shown = ",".join(addresses[:3]) + (
        f" + {len(addresses) - 3} more..." if len(addresses) > 3 else ""
    )
    return [_name(obj), shown or "<none>", _age(obj, now)]


def _secret_row(obj: dict[str, Any], now: float) -> list[Any]:
    return [_name(obj), obj.get("type", ""), len(obj.get("data") or {}), _age(obj, now)]


def _event_row(obj: dict[str, Any], now: float) -> list[Any]:
    involved = obj.get("involvedObject") or {}
    last_seen = human_age(
        obj.get("lastTimestamp") or (obj.get("metadata") or {}).get("creationTimestamp"), now
    )
    return [
        last_seen,
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        obj.get("message", ""),
    ]


def _node_row(obj: dict[str, Any], now: float) -> list[Any]:
    status = obj.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return [
        _name(obj),
        "Ready" if ready else "NotReady",
        "control-plane",
        _age(obj, now),
        (status.get("nodeInfo") or {}).get("kubeletVersion", ""),
    ]


def _default_row(obj: dict[str, Any], now: float) -> list[Any]:
    return [_name(obj), _age(obj, now)]


_LAYOUTS: dict[str, tuple[list[dict[str, Any]], Row]] = {
    "Namespace": ([_NAME, _column("Status"), _AGE], _namespace_row),
    "Deployment": (
        [
            _NAME,
            _column("Ready"),
            _column("Up-to-date", kind="integer"),
            _column("Available", kind="integer"),
            _AGE,
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ],
        _deployment_row,
    ),
    "ReplicaSet": (
        [
            _NAME,
            _column("Desired", kind="integer"),
            _column("Current", kind="integer"),
            _column("Ready", kind="integer"),
            _AGE,
            _column("Containers", priority=1),
            _column("Images", priority=1),
            _column("Selector", priority=1),
        ],
        _replica_set_row,
    ),
    "Pod": (
        [
            _NAME,
            _column("Ready"),
            _column("Status"),
            _column("Restarts", kind="string"),
            _AGE,
            _column("IP", priority=1),
            _column("Node", priority=1),
            _column("Nominated Node", priority=1),
            _column("Readiness Gates", priority=1),
        ],
        _pod_row,
    ),
    "Service": (
        [
            _NAME,
            _column("Type"),
            _column("Cluster-IP"),
            _column("External-IP"),
            _column("Port(s)"),
            _AGE,
            _column("Selector", priority=1),
        ],
        _service_row,
    ),
    "Endpoints": ([_NAME, _column("Endpoints"), _AGE], _endpoints_row),
    "Secret": ([_NAME, _column("Type"), _column("Data", kind="integer"), _AGE], _secret_row),
    "Event": (
        [
            _column("Last Seen"),
            _column("Type"),
            _column("Reason"),
            _column("Object"),
            _column("Message"),
        ],
        _event_row,
    ),
    "Node": ([_NAME, _column("Status"), _column("Roles"), _AGE, _column("Version")], _node_row),
}


def to_table(
    kind: str,
    objects: list[dict[str, Any]],
    list_metadata: dict[str, Any],
    include_object: str = "Metadata",
) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table of objects of one kind."""
    columns, row = _LAYOUTS.get(kind, ([_NAME, _AGE], _default_row))
    now = time.time()
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": row(obj, now)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata") or {},
            }
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_metadata,
        "columnDefinitions": columns,
        "rows": rows,
    }
