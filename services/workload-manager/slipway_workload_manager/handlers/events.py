"""The projection consumer: images, charts and clusters as their owners announce them on
SLIPWAY_EVENTS, into this service's own collections (durable: a restart resumes where it
stopped; a new deployment of the service replays the stream from its start).

Events are taken in batches: whatever the consumer holds, up to `BATCH`, in one pull, one
MongoDB write per wave (domain.projections.waves) and the acks in one socket write, once
the writes are stored. One pull, write and ack per event cost the service, mongod and
nats-server a socket write and a wake-up each."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsRouter, PullSub
from faststream.nats.message import NatsBatchMessage
from faststream.nats.subscriber.usecases import BatchPullStreamSubscriber
from nats.errors import ConnectionClosedError
from nats.js.api import DeliverPolicy
from nats.js.errors import ServiceUnavailableError
from pymongo.errors import PyMongoError

from slipway_contracts import subjects
from slipway_libs.errors import Unavailable
from slipway_libs.worker import Shared
from slipway_observability.metrics import observe_projection
from slipway_workload_manager.domain.projections import PROJECTED
from slipway_workload_manager.handlers.context import Deps
from slipway_workload_manager.service_layer import projections

log = logging.getLogger(__name__)

DURABLE = "workload-manager-projections"
FILTERS = [subjects.event(entity, ">") for entity in PROJECTED]
BATCH = 64  # events per pull at most; a batch is written and acked well within `ack_wait`
IDLE_PULL_S = 1.0  # how long one pull waits on an idle stream
RETRY_PULL_S = 1.0  # the pause after NATS refused a pull (closed, JetStream unavailable)
# After a batch that was not full, the next pull waits this long: the events of a burst are
# then written (and acked) together instead of one or two at a time. The first event after
# a quiet spell is projected at once; admission catches up by itself when it must.
LINGER_S = 0.05

# The batch's messages (to ack them together), read on the event loop.
JetStreamBatch = Annotated[NatsBatchMessage, Shared("message")]


class TakeWhatIsThere(BatchPullStreamSubscriber):
    """FastStream's batch pull subscriber, handing on each pull's messages at once.

    FastStream's own keeps pulling until the batch is full or `timeout` has passed: on a
    stream that is not busy every event would wait out the timeout. One pull answers as
    soon as a message is there, with all the consumer holds up to the batch size."""

    __slots__ = ()

    async def _consume_pull(self) -> None:
        assert self.subscription, "You should call `create_subscription` at first."
        while self.running:
            try:
                messages = await self.subscription.fetch(
                    batch=self.pull_sub.batch_size, timeout=self.pull_sub.timeout
                )
            except TimeoutError:  # nats-py's and asyncio's: nothing came
                continue
            except (ConnectionClosedError, ServiceUnavailableError):
                await asyncio.sleep(RETRY_PULL_S)  # unacked messages are redelivered
                continue
            if messages and self.running:
                await self.consume(messages)
                if len(messages) < self.pull_sub.batch_size:
                    await asyncio.sleep(LINGER_S)


def events_router() -> NatsRouter:
    router = NatsRouter()

    subscriber = router.subscriber(
        stream=JStream(subjects.EVENTS_STREAM, declare=False),
        durable=DURABLE,
        pull_sub=PullSub(batch_size=BATCH, timeout=IDLE_PULL_S, batch=True),
        ack_policy=AckPolicy.MANUAL,
        config=ConsumerConfig(
            filter_subjects=FILTERS, deliver_policy=DeliverPolicy.ALL, ack_wait=30
        ),
        title=f"{DURABLE}:{subjects.EVENTS_WILDCARD}",
        description="Images, charts and clusters, projected into the workload-manager.",
    )
    assert type(subscriber) is BatchPullStreamSubscriber  # what `TakeWhatIsThere` extends
    subscriber.__class__ = TakeWhatIsThere

    @subscriber
    async def project(body: list[dict[str, Any]], msg: JetStreamBatch, deps: Deps) -> None:
        """Project a batch of events (newer versions only), react to them, then ack them
        all; when a write fails, none is acked and all come again."""
        try:
            await projections.project_events(deps, body)
        except (Unavailable, PyMongoError) as exc:
            log.warning("projections not stored; redelivering", extra={"error": str(exc)})
            await msg.nack(delay=2.0)
            return
        await msg.ack()
        for envelope in body:
            observe_projection("workload-manager", envelope.get("time"))

    return router
