"""Server-side `Table` rendering, which `kubectl get` asks for (`Accept: …;as=Table`)."""

from __future__ import annotations

import time
from typing import Any

from slipway_simcluster.meta import human_age
from slipway_simcluster.table_columns import AGE, MORE_LAYOUTS, NAME, Row, age, column, name_of

TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def wants_table(accept: str) -> bool:
    """True if the client asked for `meta.k8s.io` Tables."""
    return "as=Table" in accept


def _namespace_row(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), (obj.get("status") or {}).get("phase", ""), age(obj, now)]


def _deployment_row(obj: dict[str, Any], now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    selector = ",".join(
        f"{k}={v}" for k, v in ((spec.get("selector") or {}).get("matchLabels") or {}).items()
    )
    return [
        name_of(obj),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        int(status.get("updatedReplicas", 0)),
        int(status.get("availableReplicas", 0)),
        age(obj, now),
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
        name_of(obj),
        int(spec.get("replicas", 0)),
        int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)),
        age(obj, now),
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
        selector,
    ]


def _pod_phase(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting") or state.get("terminated")
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
        name_of(obj),
        f"{ready}/{total}",
        _pod_phase(obj),
        restarts,
        age(obj, now),
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
        name_of(obj),
        spec.get("type", ""),
        spec.get("clusterIP", ""),
        external,
        ",".join(ports) or "<none>",
        age(obj, now),
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
    return [name_of(obj), shown or "<none>", age(obj, now)]


def _secret_row(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), obj.get("type", ""), len(obj.get("data") or {}), age(obj, now)]


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
        name_of(obj),
        "Ready" if ready else "NotReady",
        "control-plane",
        age(obj, now),
        (status.get("nodeInfo") or {}).get("kubeletVersion", ""),
    ]


def _default_row(obj: dict[str, Any], now: float) -> list[Any]:
    return [name_of(obj), age(obj, now)]


_LAYOUTS: dict[str, tuple[list[dict[str, Any]], Row]] = {
    "Namespace": ([NAME, column("Status"), AGE], _namespace_row),
    "Deployment": (
        [
            NAME,
            column("Ready"),
            column("Up-to-date", kind="integer"),
            column("Available", kind="integer"),
            AGE,
            column("Containers", priority=1),
            column("Images", priority=1),
            column("Selector", priority=1),
        ],
        _deployment_row,
    ),
    "ReplicaSet": (
        [
            NAME,
            column("Desired", kind="integer"),
            column("Current", kind="integer"),
            column("Ready", kind="integer"),
            AGE,
            column("Containers", priority=1),
            column("Images", priority=1),
            column("Selector", priority=1),
        ],
        _replica_set_row,
    ),
    "Pod": (
        [
            NAME,
            column("Ready"),
            column("Status"),
            column("Restarts", kind="string"),
            AGE,
            column("IP", priority=1),
            column("Node", priority=1),
            column("Nominated Node", priority=1),
            column("Readiness Gates", priority=1),
        ],
        _pod_row,
    ),
    "Service": (
        [
            NAME,
            column("Type"),
            column("Cluster-IP"),
            column("External-IP"),
            column("Port(s)"),
            AGE,
            column("Selector", priority=1),
        ],
        _service_row,
    ),
    "Endpoints": ([NAME, column("Endpoints"), AGE], _endpoints_row),
    "Secret": ([NAME, column("Type"), column("Data", kind="integer"), AGE], _secret_row),
    "Event": (
        [
            column("Last Seen"),
            column("Type"),
            column("Reason"),
            column("Object"),
            column("Message"),
        ],
        _event_row,
    ),
    "Node": ([NAME, column("Status"), column("Roles"), AGE, column("Version")], _node_row),
}


def to_table(
    kind: str,
    objects: list[dict[str, Any]],
    list_metadata: dict[str, Any],
    include_object: str = "Metadata",
) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table of objects of one kind."""
    columns, row = _LAYOUTS.get(kind) or MORE_LAYOUTS.get(kind) or ([NAME, AGE], _default_row)
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
