"""Simulated cluster networking: Service ClusterIPs, NodePorts, pod IPs and Endpoints."""

from __future__ import annotations

import ipaddress
import random
import socket
from typing import Any

from slipway_simcluster.meta import LabelSelector
from slipway_simcluster.resources import PODS, SERVICES
from slipway_simcluster.store import Store

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
NODE_IP = "192.168.49.2"  # minikube's default node address
NODE_PORT_RANGE = range(30000, 32768)
# 10.96.0.1 is the `kubernetes` Service and 10.96.0.10 kube-dns on a real cluster.
_RESERVED_SERVICE_IPS = {"10.96.0.1", "10.96.0.10"}


def service_ip_in_range(ip: str) -> bool:
    """True if `ip` is an address of the Service CIDR."""
    try:
        return ipaddress.ip_address(ip) in SERVICE_CIDR
    except ValueError:
        return False


def used_cluster_ips(store: Store) -> set[str]:
    """ClusterIPs held by existing Services."""
    return {
        str((svc.get("spec") or {}).get("clusterIP"))
        for svc in store.objects(SERVICES)
        if (svc.get("spec") or {}).get("clusterIP")
    }


def allocate_cluster_ip(store: Store) -> str:
    """A free ClusterIP from 10.96.0.0/12, picked at random as the API server does."""
    used = used_cluster_ips(store) | _RESERVED_SERVICE_IPS
    first, size = int(SERVICE_CIDR.network_address), SERVICE_CIDR.num_addresses
    while True:
        candidate = str(ipaddress.ip_address(first + random.randrange(2, size - 1)))
        if candidate not in used:
            return candidate


def used_node_ports(store: Store) -> set[int]:
    """NodePorts held by existing Services."""
    used: set[int] = set()
    for svc in store.objects(SERVICES):
        for port in (svc.get("spec") or {}).get("ports") or []:
            if isinstance(port.get("nodePort"), int):
                used.add(port["nodePort"])
    return used


def allocate_node_port(taken: set[int]) -> int:
    """A free port from 30000-32767 not in `taken`."""
    free = [port for port in NODE_PORT_RANGE if port not in taken]
    if not free:
        raise RuntimeError("simulated cluster: no free NodePort left")
    return random.choice(free)


def allocate_pod_ip(store: Store, after: int = 0) -> tuple[str, int]:
    """The first free pod IP of 10.244.0.0/16 past offset `after` (wrapping round), and
    its offset: the next allocation starts there, so a burst of pods does not scan every
    address taken before (pod IPs are reused once freed, after a round)."""
    used = {(pod.get("status") or {}).get("podIP") for pod in store.unordered(PODS)}
    network, size = int(POD_CIDR.network_address), POD_CIDR.num_addresses - 1
    # Addresses as integers, written out with inet_ntoa: `ipaddress` objects made one by
    # one made each new pod cost as much as all the pods before it.
    for step in range(1, size):
        offset = (after + step - 1) % (size - 1) + 1
        if offset & 0xFF in (0, 1):
            continue  # network and gateway addresses of each node /24
        candidate = socket.inet_ntoa((network + offset).to_bytes(4, "big"))
        if candidate not in used:
            return candidate, offset
    raise RuntimeError("simulated cluster: pod address space exhausted")


def pod_is_ready(pod: dict[str, Any]) -> bool:
    """True if the pod's Ready condition is True."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _resolve_target_port(port: dict[str, Any], pod: dict[str, Any]) -> int | None:
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for container_port in container.get("ports") or []:
            number = container_port.get("containerPort")
            if container_port.get("name") == target and isinstance(number, int):
                return number
    return None


def build_endpoints(service: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The Endpoints object of a Service with a selector, from the pods it selects."""
    metadata = service["metadata"]
    selector = LabelSelector.from_object(
        {"matchLabels": (service.get("spec") or {}).get("selector") or {}}
    )
    ports = (service.get("spec") or {}).get("ports") or []
    # Pods resolve named target ports differently, so group them by resolved port set.
    subsets: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    for pod in pods:
        pod_metadata = pod.get("metadata") or {}
        ip = (pod.get("status") or {}).get("podIP")
        if not ip or pod_metadata.get("deletionTimestamp"):
            continue
        if not selector.matches(pod_metadata.get("labels")):
            continue
        resolved = []
        for port in ports:
            number = _resolve_target_port(port, pod)
            if number is not None:
                resolved.append((port.get("name", ""), number, port.get("protocol", "TCP")))
        key = tuple(resolved)
        address = {
            "ip": ip,
            "nodeName": (pod.get("spec") or {}).get("nodeName", ""),
            "targetRef": {
                "kind": "Pod",
                "namespace": pod_metadata.get("namespace", ""),
                "name": pod_metadata.get("name", ""),
                "uid": pod_metadata.get("uid", ""),
            },
        }
        group = subsets.setdefault(key, {"addresses": [], "notReadyAddresses": []})
        group["addresses" if pod_is_ready(pod) else "notReadyAddresses"].append(address)
    built_subsets = []
    for key, group in subsets.items():
        subset: dict[str, Any] = {}
        for field in ("addresses", "notReadyAddresses"):
            if group[field]:
                subset[field] = sorted(group[field], key=lambda a: a["ip"])
        subset["ports"] = [
            {**({"name": name} if name else {}), "port": number, "protocol": protocol}
            for name, number, protocol in key
        ]
        built_subsets.append(subset)
    endpoints: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata.get("namespace", ""),
            "labels": dict(metadata.get("labels") or {}),
        },
    }
    if built_subsets:
        endpoints["subsets"] = built_subsets
    return endpoints
