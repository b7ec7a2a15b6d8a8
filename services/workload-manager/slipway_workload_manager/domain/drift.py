"""Drift: what changed in the cluster behind Slipway's back, said the way kubectl users
would say it. Pure functions over the recorded entity and what the cluster reports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from slipway_contracts.entities import Deployment, Service
from slipway_workload_manager.domain.ports import RolloutObservation, ServiceObservation


def deleted(kind: str, namespace: str, name: str) -> str:
    return f"{kind} {namespace}/{name} was deleted outside Slipway"


def _drift(
    kind: str,
    workload: Deployment | Service,
    missing: bool,
    compared: Iterable[tuple[str, Any, Any]],
) -> str | None:
    """Drift from (field, recorded, live) triples; a live value the cluster did not report
    (None) is no drift."""
    if missing:
        return deleted(kind, workload.namespace, workload.name)
    changes = [
        f"{field} {recorded} -> {live}"
        for field, recorded, live in compared
        if live is not None and live != recorded
    ]
    if not changes:
        return None
    where = f"{workload.namespace}/{workload.name}"
    return f"{kind} {where} was changed outside Slipway: {', '.join(changes)}"


def deployment_drift(
    deployment: Deployment, observation: RolloutObservation, pushed_image: str | None = None
) -> str | None:
    """What differs between the recorded Deployment and the live one (None: nothing).
    `pushed_image` is the registry reference a pushed image runs as (no drift either)."""
    live_image = observation.live_image
    if pushed_image is not None and live_image == pushed_image:
        live_image = deployment.image
    return _drift(
        "Deployment",
        deployment,
        observation.phase == "missing",
        [
            ("replicas", deployment.replicas, observation.live_replicas),
            ("image", deployment.image, live_image),
        ],
    )


def service_drift(service: Service, observation: ServiceObservation) -> str | None:
    """What differs between the recorded Service and the live one (None: nothing)."""
    return _drift(
        "Service",
        service,
        observation.phase == "missing",
        [
            ("port", service.port, observation.live_port),
            ("targetPort", service.target_port, observation.live_target_port),
        ],
    )
