"""State change → subscriber: creates sent over REST at a steady rate (open loop: each is
sent on its schedule whatever the earlier ones are doing), each `created` event timed as
the `events-reader` principal receives it from SLIPWAY_EVENTS.

The latency reported is from the event's `time` (set when the service commits the change)
to its arrival at the subscriber; the JSON also has it from the REST answer to the arrival
(negative when the event beat the answer) and from sending the request to the arrival.

The first `event_warmup_s` of creates, at the same rate, are not timed: the subscriber's
consumer and the client's connections are new, and their first second is not the steady
state (events then took up to 170 ms, against 20-40 ms at most afterwards, seen here)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from bench.entities import CLUSTER_PATH, CREATED_SUBJECT, cluster_body
from bench.feed import EventFeed
from bench.measure import latency_ms, ms, percentile, until
from bench.settings import Sizes
from bench.target import Target

DRAIN_S = 30.0  # how long to wait for the events of the answered creates
QUIET_S = 120.0  # and for those of creates the gateway gave up on (the service's backlog)
CONNECTIONS = 256


async def measure(target: Target, sizes: Sizes, run_id: str) -> dict[str, Any]:
    untimed = round(sizes.event_rate * sizes.event_warmup_s)
    count = untimed + max(1, round(sizes.event_rate * sizes.event_seconds))
    sent_at: dict[str, float] = {}
    answered_at: dict[str, float] = {}
    errors: list[str] = []
    gave_up: set[str] = set()  # names of creates the gateway answered 503/504 (timed out)
    async with (
        EventFeed(target.nats_options("events-reader"), CREATED_SUBJECT) as feed,
        target.loader(CONNECTIONS) as api,
    ):

        async def create(i: int) -> None:
            """The i-th create; the first `untimed` are only the warm-up."""
            body = cluster_body(f"b{run_id}-e-{i}")
            sent = time.time()
            try:
                async with api.post(CLUSTER_PATH, json=body) as response:
                    status, text = response.status, await response.text()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            if status != 201:
                errors.append(f"HTTP {status}: {text[:200]}")
                if status in (503, 504):
                    gave_up.add(body["name"])
                return
            if i >= untimed:
                entity_id = json.loads(text)["id"]
                sent_at[entity_id], answered_at[entity_id] = sent, time.time()

        began = timed_from = time.perf_counter()
        tasks = []
        for i in range(count):
            # Pacing, not waiting for anything: the i-th create goes out at i / rate.
            delay = began + i / sizes.event_rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if i == untimed:
                timed_from = time.perf_counter()
            tasks.append(asyncio.create_task(create(i)))
        sending_s = time.perf_counter() - timed_from
        await asyncio.gather(*tasks)
        answering_s = time.perf_counter() - timed_from
        arrivals = await feed.wait_all(set(answered_at), {"created"}, DRAIN_S)
        # Creates the gateway gave up on (its request timeout) may still be done by the
        # service later: wait for those too, so that the next section starts quiet.

        async def backlog_done() -> bool:
            return gave_up <= feed.names()

        with contextlib.suppress(TimeoutError):
            await until(backlog_done, QUIET_S, "the creates the gateway gave up on")
        done_unanswered = len(gave_up & feed.names())
    from_time = [a.arrived_at - a.made_at for a in arrivals]
    from_answer = [a.arrived_at - answered_at[a.entity_id] for a in arrivals]
    from_send = [a.arrived_at - sent_at[a.entity_id] for a in arrivals]
    return {
        "operation": f"POST {CLUSTER_PATH} at a steady rate; subscriber on {CREATED_SUBJECT} "
        "(ordered consumer, events-reader)",
        "offered_rate_per_s": sizes.event_rate,
        "untimed_warmup_creates": untimed,
        "creates": count - untimed,
        "sent_over_s": round(sending_s, 3),
        "answered_rate_per_s": round(len(answered_at) / answering_s, 1) if answering_s else None,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "events_received": len(arrivals),
        "events_missing": len(answered_at) - len(arrivals),
        "gateway_gave_up": len(gave_up),
        "created_after_gateway_gave_up": done_unanswered,
        "latency_from_event_time": latency_ms(from_time),
        "latency_from_rest_answer": {
            **latency_ms(from_answer),
            "min_ms": ms(min(from_answer)) if from_answer else None,
            "share_before_answer": round(sum(1 for x in from_answer if x < 0) / len(from_answer), 3)
            if from_answer
            else None,
        },
        "latency_from_request_sent": latency_ms(from_send),
        "rest_latency_p99_ms": ms(
            percentile([answered_at[i] - sent_at[i] for i in answered_at], 0.99)
        ),
    }
