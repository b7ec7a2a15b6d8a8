"""The projection consumer: images, charts and clusters as their owners announce them on
SLIPWAY_EVENTS, into this service's own collections (durable: a restart resumes where it
stopped; a new deployment of the service replays the stream from its start)."""

from __future__ import annotations

import logging
from typing import Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsRouter, PullSub
from nats.js.api import DeliverPolicy
from pymongo.errors import PyMongoError

from slipway_contracts import subjects
from slipway_libs.errors import Unavailable
from slipway_libs.worker import JetStreamMessage
from slipway_observability.metrics import observe_projection
from slipway_workload_manager.domain.projections import PROJECTED
from slipway_workload_manager.handlers.context import Deps
from slipway_workload_manager.service_layer import projections

log = logging.getLogger(__name__)

DURABLE = "workload-manager-projections"
FILTERS = [subjects.event(entity, ">") for entity in PROJECTED]


def events_router() -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        stream=JStream(subjects.EVENTS_STREAM, declare=False),
        durable=DURABLE,
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
        config=ConsumerConfig(
            filter_subjects=FILTERS, deliver_policy=DeliverPolicy.ALL, ack_wait=30
        ),
        title=f"{DURABLE}:{subjects.EVENTS_WILDCARD}",
        description="Images, charts and clusters, projected into the workload-manager.",
    )
    async def project(body: dict[str, Any], msg: JetStreamMessage, deps: Deps) -> None:
        """Project one event (newer versions only), react to it, then ack."""
        try:
            await projections.project_event(deps, body)
        except (Unavailable, PyMongoError) as exc:
            log.warning("projection not stored; redelivering", extra={"error": str(exc)})
            await msg.nack(delay=2.0)
            return
        await msg.ack()
        observe_projection("workload-manager", body.get("time"))

    return router
