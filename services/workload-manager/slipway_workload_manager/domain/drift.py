"""Drift: what changed in the cluster behind Slipway's back, said the way kubectl users
would say it. Pure functions over the recorded entity and what the cluster reports."""

from __future__ import annotations

from typing import Any

from slipway_contracts.entities import Deployment, Service
from slipway_workload_manager.domain.ports import (
    Manifest,
    RolloutObservation,
    ServiceObservation,
)


def deleted(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace}/{name} was deleted outside Slipway"


def deployment_drift(deployment: Deployment, observation: RolloutObservation) -> str | None:
    """What differs between the recorded Deployment and the live one (None: nothing)."""
    if observation.phase == "missing":
        return deleted("Deployment", deployment.namespace, deployment.name)
    changes = []
    live_replicas, live_image = observation.live_replicas, observation.live_image
    if live_replicas is not None and live_replicas != deployment.replicas:
        changes.append(f"replicas {deployment.replicas} -> {live_replicas}")
    if live_image is not None and live_image != deployment.image:
        changes.append(f"image {deployment.image} -> {live_image}")
    if not changes:
        return None
    where = f"{deployment.namespace}/{deployment.name}"
    return f"Deployment {where} was changed outside Slipway: {', '.join(changes)}"


def service_drift(service: Service, observation: ServiceObservation) -> str | None:
    if observation.phase == "missing":
        return deleted("Service", service.namespace, service.name)
    changes = []
    if observation.live_port is not None and observation.live_port != service.port:
        changes.append(f"port {service.port} -> {observation.live_port}")
    live_target = observation.live_target_port
    if live_target is not None and live_target != service.target_port:
        changes.append(f"targetPort {service.target_port} -> {live_target}")
    if not changes:
        return None
    where = f"{service.namespace}/{service.name}"
    return f"Service {where} was changed outside Slipway: {', '.join(changes)}"


def _get(manifest: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(manifest, dict):
            return None
        manifest = manifest.get(key)
    return manifest


def looks_settled(deployment: Deployment, live: Manifest) -> bool:
    """Whether a live Deployment matches its record at a glance (spec, image, counts), so
    that the reconcile loop need not look closer at it this round."""
    obj = dict(live)
    containers = _get(obj, "spec", "template", "spec", "containers") or []
    image = containers[0].get("image") if containers and isinstance(containers[0], dict) else None
    generation = _get(obj, "metadata", "generation")
    observed_generation = _get(obj, "status", "observedGeneration")
    return (
        _get(obj, "spec", "replicas") == deployment.replicas
        and image == deployment.image
        and (generation is None or observed_generation == generation)
        and (_get(obj, "status", "availableReplicas") or 0) == deployment.available_replicas
        and (_get(obj, "status", "readyReplicas") or 0) == deployment.ready_replicas
        and (_get(obj, "status", "updatedReplicas") or 0) == deployment.updated_replicas
        and deployment.available_replicas >= deployment.replicas
    )
