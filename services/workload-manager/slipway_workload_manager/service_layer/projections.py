"""Event intake: the images, charts and clusters their owners announce on SLIPWAY_EVENTS,
into this service's projections (newer versions only), then the reactions to them."""

from __future__ import annotations

import logging
from typing import Any

from slipway_contracts import subjects
from slipway_workload_manager.domain.projections import (
    NotProjected,
    ProjectedEvent,
    parse_event,
    waves,
)
from slipway_workload_manager.service_layer import reactions
from slipway_workload_manager.service_layer.dependencies import Dependencies

log = logging.getLogger(__name__)


async def project_event(deps: Dependencies, envelope: dict[str, Any]) -> bool:
    """Apply one event to the projections, then react to the new state. False when the
    event was not one to project (it is skipped)."""
    return await project_events(deps, [envelope]) == 1


async def project_events(deps: Dependencies, envelopes: list[dict[str, Any]]) -> int:
    """Apply a batch of events, in order, to the projections, each wave in one write, and
    react to each projected change; how many events were projected (the others are
    skipped). A failed write raises: the waves before it are kept, and a redelivery changes
    them no more. A failed reaction is logged: the projection is kept, and the reconcile
    loop reacts again."""
    events = [event for envelope in envelopes if (event := _parsed(envelope))]
    for wave in waves(events):
        await deps.projections.apply_all(wave)
        for event in wave:
            if event.reacts:
                await _react_logged(deps, event)
    return len(events)


def _parsed(envelope: dict[str, Any]) -> ProjectedEvent | None:
    try:
        return parse_event(envelope)
    except NotProjected as exc:
        log.warning("event skipped", extra={"error": str(exc)})
        return None


async def _react_logged(deps: Dependencies, event: ProjectedEvent) -> None:
    try:
        await _react(deps, event)
    except Exception:
        log.exception("reaction failed", extra={"entity_id": event.entity_id})


async def _react(deps: Dependencies, event: ProjectedEvent) -> None:
    if event.entity == subjects.MINIKUBE_CLUSTER:
        cluster = await deps.projections.cluster(event.entity_id)
        await reactions.react_to_cluster(deps, event.entity_id, cluster)
    elif event.entity == subjects.CONTAINER_IMAGE:
        await reactions.react_to_image(deps, event.entity_id)
