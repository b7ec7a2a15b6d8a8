"""The raw ceiling: what the same client libraries do on the same servers with nothing of
Slipway in between. One operation is a MongoDB transaction inserting an entity document and
its outbox row, then a JetStream publish of the event (with `Nats-Msg-Id`) acked by the
stream. It runs in a database and a stream of its own (`slipway_bench_raw`,
`SLIPWAY_BENCH_RAW`, shaped like a service's: the same indexes, a file stream with the
same duplicate window), both removed after."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

import nats
from bson import ObjectId
from nats.js.api import StorageType, StreamConfig
from pymongo import ASCENDING, AsyncMongoClient

from bench.entities import cluster_document, created_event
from bench.measure import Run, warm_then_drive
from bench.settings import Sizes
from bench.target import Target
from slipway_libs.messaging import DUPLICATE_WINDOW_S
from slipway_libs.storage import LISTING_ORDER

DATABASE = "slipway_bench_raw"
STREAM = "SLIPWAY_BENCH_RAW"
SUBJECT = "slipway.bench.raw.created"
LEVELS = (1, 64)


async def measure(target: Target, sizes: Sizes, run_id: str) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(target.mongodb_uri, tz_aware=True)
    nc = await nats.connect(**target.nats_options("admin"))
    js = nc.jetstream()
    db = client[DATABASE]
    entities, outbox = db["entities"], db["outbox"]
    try:
        await db.drop_collection("entities")
        await db.drop_collection("outbox")
        await entities.create_index(LISTING_ORDER)
        await entities.create_index("status")
        await entities.create_index("name", unique=True)
        await outbox.create_index([("published_at", ASCENDING), ("_id", ASCENDING)])
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(STREAM)
        await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=[SUBJECT],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
            )
        )

        def operation(level: int) -> Any:
            async def write_and_publish(i: int) -> None:
                document = cluster_document(f"raw-{run_id}-{level}-{i}", datetime.now(UTC))
                event = created_event(document)
                payload = json.dumps(event, default=str).encode()
                row = {
                    "_id": ObjectId(),
                    "msg_id": event["id"],
                    "subject": SUBJECT,
                    "stream": STREAM,
                    "payload": payload,
                    "correlationid": event["correlationid"],
                    "created_at": document["created_at"],
                    "published_at": None,
                }
                session = client.start_session()
                try:
                    await session.start_transaction()
                    await entities.insert_one(document, session=session)
                    await outbox.insert_many([row], session=session)
                    await session.commit_transaction()
                finally:
                    await session.end_session()
                await js.publish(
                    SUBJECT, payload, timeout=5, stream=STREAM, headers={"Nats-Msg-Id": event["id"]}
                )

            return write_and_publish

        runs: dict[str, Run] = {}
        for level in LEVELS:
            runs[str(level)] = await warm_then_drive(
                operation(level), sizes.raw_ops, level, sizes.warmup
            )
        return {
            "operation": "MongoDB transaction (entity document + outbox row), then an acked "
            "JetStream publish with Nats-Msg-Id",
            "by_in_flight": {level: run.summary() for level, run in runs.items()},
        }
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(STREAM)
        with contextlib.suppress(Exception):
            await client.drop_database(DATABASE)
        await nc.close()
        await client.close()
