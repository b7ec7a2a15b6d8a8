"""Event intake: the images, charts and clusters their owners announce on SLIPWAY_EVENTS,
into this service's projections (newer versions only), then the reactions to them."""

from __future__ import annotations

import logging
from typing import Any

from slipway_contracts import subjects
from slipway_workload_manager.domain.projections import NotProjected, ProjectedEvent, parse_event
from slipway_workload_manager.service_layer import reactions
from slipway_workload_manager.service_layer.dependencies import Dependencies

log = logging.getLogger(__name__)


async def project_event(deps: Dependencies, envelope: dict[str, Any]) -> bool:
    """Apply one event to the projections, then react to the new state. False when the
    event was not one to project (it is skipped). A failed reaction is logged: the
    projection is kept, and the reconcile loop reacts again."""
    try:
        event = parse_event(envelope)
    except NotProjected as exc:
        log.warning("event skipped", extra={"error": str(exc)})
        return False
    await deps.projections.apply(event)
    if event.event == "created":
        return True  # nothing refers to an entity just made: nothing to react to
    try:
        await _react(deps, event)
    except Exception:
        log.exception("reaction failed", extra={"entity_id": event.entity_id})
    return True


async def _react(deps: Dependencies, event: ProjectedEvent) -> None:
    if event.entity == subjects.MINIKUBE_CLUSTER:
        cluster = await deps.projections.cluster(event.entity_id)
        await reactions.react_to_cluster(deps, event.entity_id, cluster)
    elif event.entity == subjects.CONTAINER_IMAGE:
        await reactions.react_to_image(deps, event.entity_id)
