"""Slipway's own figures for the cheap create (`bench.entities`): over REST at 1, 16 and 64
in flight, and sent straight over NATS to the cluster-manager as the `admin` principal (a
signed request, as the README's integrations send them) at 1 and 64 in flight; then GET of
one entity and list pages of 50 at a seeded entity count."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import nats
from pymongo import AsyncMongoClient

from bench.entities import (
    CLUSTER_COLLECTION,
    CLUSTER_DATABASE,
    CLUSTER_PATH,
    CREATE_SUBJECT,
    cluster_body,
    cluster_document,
)
from bench.measure import Run, drive, warm_then_drive
from bench.settings import Sizes
from bench.target import Target
from slipway_keys.principals import Signer
from slipway_libs.requests import request
from slipway_libs.storage import encode_cursor

REST_LEVELS = (1, 16, 64)
NATS_LEVELS = (1, 64)
SEED_BATCH = 5000
PAGE = 50


def expect(response: httpx.Response, status: int) -> None:
    """Raise unless the response has `status` (the message quotes the answer)."""
    if response.status_code != status:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")


async def call(
    session: aiohttp.ClientSession, method: str, path: str, status: int, **options: Any
) -> Any:
    """A timed request: its JSON answer; raise unless it has `status` (quoting the answer)."""
    async with session.request(method, path, **options) as response:
        text = await response.text()
        if response.status != status:
            raise RuntimeError(f"HTTP {response.status}: {text[:200]}")
        return json.loads(text) if text else None


async def rest_create(target: Target, sizes: Sizes, run_id: str) -> dict[str, Any]:
    runs: dict[str, Run] = {}
    async with target.loader(max(REST_LEVELS)) as api:
        for level in REST_LEVELS:

            async def create(i: int, level: int = level) -> None:
                body = cluster_body(f"b{run_id}-r{level}-{i}")
                await call(api, "POST", CLUSTER_PATH, 201, json=body)

            runs[str(level)] = await warm_then_drive(create, sizes.rest_ops, level, sizes.warmup)
    return {
        "operation": f"POST {CLUSTER_PATH} (driver sim, not started; 201)",
        "by_in_flight": {level: run.summary() for level, run in runs.items()},
    }


async def nats_create(target: Target, sizes: Sizes, run_id: str) -> dict[str, Any]:
    nc = await nats.connect(**target.nats_options("admin"))
    signer = Signer.from_seed_file(target.admin_seed) if target.admin_seed else None
    runs: dict[str, Run] = {}
    try:
        for level in NATS_LEVELS:

            async def create(i: int, level: int = level) -> None:
                body = cluster_body(f"b{run_id}-n{level}-{i}")
                await request(
                    nc,
                    CREATE_SUBJECT,
                    body,
                    timeout_s=30,
                    command_id=str(uuid.uuid4()),
                    signer=signer,
                )

            runs[str(level)] = await warm_then_drive(create, sizes.nats_ops, level, sizes.warmup)
    finally:
        await nc.close()
    return {
        "operation": f"request-reply on {CREATE_SUBJECT} as `admin` (signed, with a command id)",
        "by_in_flight": {level: run.summary() for level, run in runs.items()},
    }


async def _seed(collection: Any, run_id: str, count: int) -> tuple[list[str], float]:
    """Insert `count` stopped sim clusters (oldest first); their ids and the seconds taken."""
    ids: list[str] = []
    start = datetime.now(UTC) - timedelta(milliseconds=count)
    began = datetime.now(UTC)
    for first in range(0, count, SEED_BATCH):
        batch = [
            cluster_document(f"s{run_id}-{i}", start + timedelta(milliseconds=i))
            for i in range(first, min(first + SEED_BATCH, count))
        ]
        await collection.insert_many(batch, ordered=False)
        ids += [d["_id"] for d in batch]
    return ids, (datetime.now(UTC) - began).total_seconds()


async def reads(target: Target, sizes: Sizes, run_id: str) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(target.mongodb_uri, tz_aware=True)
    collection = client[CLUSTER_DATABASE][CLUSTER_COLLECTION]
    prefix = f"^s{run_id}-"
    try:
        ids, seed_s = await _seed(collection, run_id, sizes.entities)
        total = await collection.count_documents({})
        middle = await collection.find_one({"_id": ids[len(ids) // 2]})
        assert middle is not None
        mid_cursor = encode_cursor(middle["created_at"], middle["_id"])
        pick = random.Random(run_id)
        found: dict[str, Run] = {}
        async with target.loader(1) as api:

            async def get(_: int) -> None:
                await call(api, "GET", f"{CLUSTER_PATH}/{pick.choice(ids)}", 200)

            async def first_page(_: int) -> None:
                page = await call(api, "GET", CLUSTER_PATH, 200, params={"limit": PAGE})
                if len(page["items"]) != min(PAGE, total):
                    raise RuntimeError("a short page")

            async def middle_page(_: int) -> None:
                params: dict[str, str | int] = {"limit": PAGE, "cursor": mid_cursor}
                await call(api, "GET", CLUSTER_PATH, 200, params=params)

            for name, operation in (("get", get), ("list", first_page), ("list_mid", middle_page)):
                await drive(operation, sizes.warmup, 1)
                found[name] = await drive(operation, sizes.reads, 1)
        return {
            "entity": f"MinikubeCluster ({CLUSTER_DATABASE}.{CLUSTER_COLLECTION})",
            "seeding": "documents of the stored shape bulk-inserted straight into the "
            "cluster-manager's database with the MongoDB admin URI (bypassing the API; no "
            "events); removed after",
            "seeded": len(ids),
            "entities_in_collection": total,
            "seed_s": round(seed_s, 2),
            "seed_docs_per_s": round(len(ids) / seed_s, 1) if seed_s else None,
            "in_flight": 1,
            "get": found["get"].summary() | {"request": f"GET {CLUSTER_PATH}/{{id}}"},
            "list": found["list"].summary() | {"request": f"GET {CLUSTER_PATH}?limit={PAGE}"},
            "list_mid": found["list_mid"].summary()
            | {"request": f"GET {CLUSTER_PATH}?limit={PAGE}&cursor=<halfway>"},
        }
    finally:
        await collection.delete_many({"name": {"$regex": prefix}})
        await client.close()
