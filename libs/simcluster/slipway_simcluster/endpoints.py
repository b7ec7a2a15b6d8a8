"""The simulated endpoints and load-balancer controllers, one namespace at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.networking import build_endpoints
from slipway_simcluster.resources import ENDPOINTS, PODS, SERVICES
from slipway_simcluster.store import Store

# What `minikube tunnel` gives a LoadBalancer Service: an address on the host.
TUNNEL_INGRESS = [{"ip": "127.0.0.1", "ipMode": "VIP"}]


class ServiceController:
    """Keeps Endpoints in line with ready pods and LoadBalancer status with the tunnel."""

    def __init__(self, store: Store, tunnel_enabled: Callable[[], bool]) -> None:
        self._store = store
        self._tunnel_enabled = tunnel_enabled

    def reconcile_namespace(self, namespace: str) -> None:
        """Recompute every Service's Endpoints and load-balancer status in a namespace."""
        services = {
            svc["metadata"]["name"]: svc for svc in self._store.objects(SERVICES, namespace)
        }
        pods = self._store.objects(PODS, namespace)
        for service in services.values():
            self._sync_load_balancer(service)
            if (service.get("spec") or {}).get("selector"):
                self._sync_endpoints(service, pods)
        for endpoints in list(self._store.objects(ENDPOINTS, namespace)):
            if endpoints["metadata"]["name"] not in services:
                self._store.delete(ENDPOINTS, namespace, endpoints["metadata"]["name"])

    def _sync_endpoints(self, service: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        wanted = build_endpoints(service, pods)
        metadata = service["metadata"]
        current = self._store.peek(ENDPOINTS, metadata.get("namespace", ""), metadata["name"])
        if current is None:
            self._store.create(ENDPOINTS, wanted)
            return
        if (
            current.get("subsets") == wanted.get("subsets")
            and (current["metadata"].get("labels") or {}) == wanted["metadata"]["labels"]
        ):
            return
        updated = clone(current)
        updated["metadata"]["labels"] = wanted["metadata"]["labels"]
        if "subsets" in wanted:
            updated["subsets"] = wanted["subsets"]
        else:
            updated.pop("subsets", None)
        self._store.replace(ENDPOINTS, updated)

    def _sync_load_balancer(self, service: dict[str, Any]) -> None:
        is_load_balancer = (service.get("spec") or {}).get("type") == "LoadBalancer"
        wanted: dict[str, Any] = {}
        if is_load_balancer and self._tunnel_enabled():
            wanted = {"ingress": clone(TUNNEL_INGRESS)}
        status = service.get("status") or {}
        if status.get("loadBalancer", {}) == wanted:
            return
        updated = clone(service)
        updated.setdefault("status", {})["loadBalancer"] = wanted
        self._store.replace(SERVICES, updated)
