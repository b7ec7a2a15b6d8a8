"""Webhook subscriptions, their delivery queues and the delivery log, in the gateway's
MongoDB database.

- `webhooks`: one document per subscription; its signing secret sealed (AES-GCM, the
  installation's secret key, bound to the subscription's id), never in clear; a lease names
  the gateway replica delivering its queue (`lease_owner` until `lease_until`). The active
  ones, needed for every event, are kept in memory (`ActiveSubscribers`) while a change
  stream says none changed.
- `webhook_queue`: the events each subscription has still to receive, `_id`
  `<webhook id>:<sequence>` (so an event queued twice is queued once), delivered in stream
  order, the head first.
- `webhook_deliveries`: one row per attempt (kept `DELIVERY_LOG_DAYS`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from slipway_contracts.webhooks import (
    CreatedWebhook,
    CreateWebhook,
    DeliveryOutcome,
    Webhook,
    WebhookDelivery,
    WebhookStatus,
)
from slipway_gateway.adapters.collection_watch import CollectionWatch
from slipway_keys.secrets import Sealer
from slipway_libs.storage import Database, decode_cursor, encode_cursor, unavailable_from

WEBHOOKS = "webhooks"
QUEUE = "webhook_queue"
DELIVERIES = "webhook_deliveries"
DELIVERY_LOG_DAYS = 30
LISTING_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]
NEWEST_FIRST = [("attempted_at", DESCENDING), ("_id", DESCENDING)]
PRIVATE = ("secret", "start_seq", "lease_owner", "lease_until", "disabled_event_pending")
# Fields whose change leaves the active subscriptions as they were (leases, announcements).
BOOKKEEPING = ["lease_owner", "lease_until", "disabled_event_pending"]


@contextmanager
def unavailable_on_failure() -> Iterator[None]:
    try:
        yield
    except DuplicateKeyError:
        raise
    except PyMongoError as exc:
        raise unavailable_from(exc) from exc


@dataclass(frozen=True)
class Subscriber:
    """What delivering needs of a subscription: where, what, and its secret."""

    id: str
    url: str
    events: list[str]
    start_seq: int  # it receives the events after this stream sequence
    secret: str


@dataclass(frozen=True)
class Pending:
    """An event queued for a subscription."""

    webhook_id: str
    sequence: int
    event_id: str
    event_type: str
    body: bytes
    attempts: int
    next_attempt_at: datetime


def as_stored(moment: datetime) -> datetime:
    """A moment as MongoDB keeps it (to the millisecond)."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def listed(row: dict[str, Any]) -> Webhook:
    fields = {k: v for k, v in row.items() if k != "_id" and k not in PRIVATE}
    return Webhook.model_validate({**fields, "id": row["_id"]})


def sealing_context(webhook_id: str) -> bytes:
    return f"webhook/{webhook_id}/secret".encode()


def changed_fields() -> dict[str, Any]:
    """How many fields other than `BOOKKEEPING` an update set or removed (an expression of a
    change event)."""
    updated = {"$objectToArray": {"$ifNull": ["$updateDescription.updatedFields", {}]}}
    names = {"$map": {"input": updated, "in": "$$this.k"}}
    removed = {"$ifNull": ["$updateDescription.removedFields", []]}
    return {"$size": {"$setDifference": [{"$concatArrays": [names, removed]}, BOOKKEEPING]}}


class ActiveSubscribers(CollectionWatch):
    """The active subscriptions (`WebhookStore.active`), dropped on any change to a
    subscription but its bookkeeping."""

    name = "webhooks change stream"
    pipeline: ClassVar[list[dict[str, Any]]] = [
        {
            "$match": {
                "$expr": {
                    "$or": [
                        {"$ne": ["$operationType", "update"]},
                        {"$gt": [changed_fields(), 0]},
                    ]
                }
            }
        }
    ]

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        super().__init__(collection)
        self.kept: list[Subscriber] | None = None

    def get(self) -> list[Subscriber] | None:
        return self.kept if self.fresh else None

    def keep(self, subscribers: list[Subscriber], reading: int) -> None:
        if self.may_keep(reading):
            self.kept = subscribers

    def changed(self, change: dict[str, Any]) -> None:
        self.kept = None

    def clear(self) -> None:
        self.kept = None


class WebhookStore:
    def __init__(self, database: Database, sealer: Sealer) -> None:
        self.webhooks = database.db[WEBHOOKS]
        self.queue = database.db[QUEUE]
        self.deliveries = database.db[DELIVERIES]
        self.sealer = sealer
        self.subscribers = ActiveSubscribers(self.webhooks)

    def start(self) -> None:
        """Keep the active subscriptions (once the change stream on them is open)."""
        self.subscribers.start()

    async def stop(self) -> None:
        await self.subscribers.stop()

    async def ensure_indexes(self) -> None:
        with unavailable_on_failure():
            await self.webhooks.create_index(LISTING_ORDER)
            await self.queue.create_index([("webhook_id", ASCENDING), ("sequence", ASCENDING)])
            await self.deliveries.create_index([("webhook_id", ASCENDING), *NEWEST_FIRST])
            await self.deliveries.create_index(
                "attempted_at", expireAfterSeconds=DELIVERY_LOG_DAYS * 86400, name="log_ttl"
            )

    # --- subscriptions -------------------------------------------------------------------

    async def create(
        self, request: CreateWebhook, secret: str, start_seq: int, created_by: str, now: datetime
    ) -> CreatedWebhook:
        """A new active subscription receiving the events after `start_seq`."""
        now = as_stored(now)
        webhook = Webhook(
            id=str(uuid.uuid4()),
            url=request.url,
            events=request.events,
            description=request.description,
            status=WebhookStatus.ACTIVE,
            created_at=now,
            created_by=created_by,
            last_updated=now,
            revision=1,
        )
        row = {
            "_id": webhook.id,
            **webhook.model_dump(mode="python", exclude={"id"}),
            "status": str(webhook.status),
            "secret": self.sealer.seal(secret.encode(), sealing_context(webhook.id)),
            "start_seq": start_seq,
            "lease_owner": None,
            "lease_until": None,
            "disabled_event_pending": False,
        }
        with unavailable_on_failure():
            await self.webhooks.insert_one(row)
        self.subscribers.forget()
        return CreatedWebhook(**webhook.model_dump(), secret=secret)

    async def get(self, webhook_id: str) -> Webhook | None:
        with unavailable_on_failure():
            row = await self.webhooks.find_one({"_id": webhook_id})
        return listed(row) if row else None

    async def page(self, cursor: str | None, limit: int) -> tuple[list[Webhook], str | None]:
        query: dict[str, Any] = {}
        if cursor:
            created_at, webhook_id = decode_cursor(cursor)
            query["$or"] = [
                {"created_at": {"$gt": created_at}},
                {"created_at": created_at, "_id": {"$gt": webhook_id}},
            ]
        with unavailable_on_failure():
            rows = await self.webhooks.find(query).sort(LISTING_ORDER).to_list(limit + 1)
        items = [listed(row) for row in rows[:limit]]
        more = len(rows) > limit
        return items, encode_cursor(items[-1].created_at, items[-1].id) if more else None

    async def delete(self, webhook_id: str) -> bool:
        """Remove a subscription and its queue (its delivery log ages out)."""
        with unavailable_on_failure():
            result = await self.webhooks.delete_one({"_id": webhook_id})
            self.subscribers.forget()
            await self.queue.delete_many({"webhook_id": webhook_id})
        return result.deleted_count == 1

    async def active(self) -> list[Subscriber]:
        """Every active subscription, its secret opened."""
        if (kept := self.subscribers.get()) is not None:
            return kept
        reading = self.subscribers.reading()
        with unavailable_on_failure():
            rows = await self.webhooks.find({"status": str(WebhookStatus.ACTIVE)}).to_list(None)
        subscribers = [
            Subscriber(
                id=row["_id"],
                url=row["url"],
                events=row["events"],
                start_seq=row["start_seq"],
                secret=self.sealer.open_sealed(row["secret"], sealing_context(row["_id"])).decode(),
            )
            for row in rows
        ]
        self.subscribers.keep(subscribers, reading)
        return subscribers

    async def disable(self, webhook_id: str, reason: str, now: datetime) -> Webhook | None:
        """Disable an active subscription (its queue is dropped); None if it was not active."""
        with unavailable_on_failure():
            row = await self.webhooks.find_one_and_update(
                {"_id": webhook_id, "status": str(WebhookStatus.ACTIVE)},
                {
                    "$set": {
                        "status": str(WebhookStatus.DISABLED),
                        "disabled_reason": reason,
                        "last_updated": as_stored(now),
                        "disabled_event_pending": True,
                    },
                    "$inc": {"revision": 1},
                },
                return_document=ReturnDocument.AFTER,
            )
        self.subscribers.forget()
        return listed(row) if row else None

    async def enable(self, webhook_id: str, start_seq: int, now: datetime) -> Webhook | None:
        """Make a disabled subscription active again, receiving the events after `start_seq`
        (what came while it was disabled is not sent); an active one is left as it is. None:
        no such subscription."""
        with unavailable_on_failure():
            row = await self.webhooks.find_one_and_update(
                {"_id": webhook_id, "status": str(WebhookStatus.DISABLED)},
                {
                    "$set": {
                        "status": str(WebhookStatus.ACTIVE),
                        "disabled_reason": None,
                        "start_seq": start_seq,
                        "last_updated": as_stored(now),
                        "disabled_event_pending": False,
                    },
                    "$inc": {"revision": 1},
                },
                return_document=ReturnDocument.AFTER,
            )
            self.subscribers.forget()
            if row is None:
                row = await self.webhooks.find_one({"_id": webhook_id})
        return listed(row) if row else None

    async def disabled_unannounced(self) -> list[Webhook]:
        """Disabled subscriptions whose `disabled` event is not yet published."""
        with unavailable_on_failure():
            rows = await self.webhooks.find({"disabled_event_pending": True}).to_list(None)
        return [listed(row) for row in rows]

    async def announced(self, webhook_id: str) -> None:
        with unavailable_on_failure():
            await self.webhooks.update_one(
                {"_id": webhook_id}, {"$set": {"disabled_event_pending": False}}
            )

    # --- leases: one replica delivers a subscription's queue at a time --------------------

    async def take_lease(self, webhook_id: str, owner: str, now: datetime, for_s: float) -> bool:
        """Hold (or extend) the lease on a subscription's queue; False if another holds it."""
        with unavailable_on_failure():
            row = await self.webhooks.find_one_and_update(
                {
                    "_id": webhook_id,
                    "status": str(WebhookStatus.ACTIVE),
                    "$or": [
                        {"lease_owner": owner},
                        {"lease_until": None},
                        {"lease_until": {"$lt": now}},
                    ],
                },
                {"$set": {"lease_owner": owner, "lease_until": now + timedelta(seconds=for_s)}},
            )
        return row is not None

    async def release_lease(self, webhook_id: str, owner: str) -> None:
        with unavailable_on_failure():
            await self.webhooks.update_one(
                {"_id": webhook_id, "lease_owner": owner},
                {"$set": {"lease_owner": None, "lease_until": None}},
            )

    # --- the queues ----------------------------------------------------------------------

    async def enqueue(self, pending: list[Pending]) -> None:
        """Queue events (one queued already stays as it is)."""
        for item in pending:
            row = {
                "_id": f"{item.webhook_id}:{item.sequence:020d}",
                "webhook_id": item.webhook_id,
                "sequence": item.sequence,
                "event_id": item.event_id,
                "event_type": item.event_type,
                "body": item.body,
                "attempts": item.attempts,
                "next_attempt_at": item.next_attempt_at,
            }
            with unavailable_on_failure():
                await self.queue.update_one({"_id": row["_id"]}, {"$setOnInsert": row}, upsert=True)

    async def queued_for(self) -> set[str]:
        """The subscriptions that have events queued."""
        with unavailable_on_failure():
            return {str(w) for w in await self.queue.distinct("webhook_id")}

    async def head(self, webhook_id: str) -> Pending | None:
        """The next event a subscription is to receive."""
        with unavailable_on_failure():
            row = await self.queue.find_one(
                {"webhook_id": webhook_id}, sort=[("sequence", ASCENDING)]
            )
        if row is None:
            return None
        return Pending(
            webhook_id=row["webhook_id"],
            sequence=row["sequence"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            body=bytes(row["body"]),
            attempts=row["attempts"],
            next_attempt_at=row["next_attempt_at"],
        )

    async def settle(self, pending: Pending, attempt: WebhookDelivery) -> None:
        """Log an attempt; the event leaves the queue unless it is to be tried again."""
        key = {"_id": f"{pending.webhook_id}:{pending.sequence:020d}"}
        await self.log(attempt)
        with unavailable_on_failure():
            if attempt.outcome == DeliveryOutcome.RETRYING:
                await self.queue.update_one(
                    key,
                    {
                        "$set": {
                            "attempts": attempt.attempt,
                            "next_attempt_at": attempt.next_attempt_at,
                        }
                    },
                )
            else:
                await self.queue.delete_one(key)

    async def drop_queue(self, webhook_id: str) -> list[Pending]:
        """Empty a (disabled) subscription's queue; what it held, oldest first."""
        dropped = []
        while (head := await self.head(webhook_id)) is not None:
            dropped.append(head)
            with unavailable_on_failure():
                await self.queue.delete_one({"_id": f"{webhook_id}:{head.sequence:020d}"})
        return dropped

    # --- the delivery log ----------------------------------------------------------------

    async def log(self, attempt: WebhookDelivery) -> None:
        with unavailable_on_failure():
            await self.deliveries.insert_one(
                {"_id": attempt.id, **attempt.model_dump(mode="python", exclude={"id"})}
            )

    async def log_page(
        self, webhook_id: str, cursor: str | None, limit: int
    ) -> tuple[list[WebhookDelivery], str | None]:
        """A subscription's delivery attempts, newest first."""
        query: dict[str, Any] = {"webhook_id": webhook_id}
        if cursor:
            attempted_at, attempt_id = decode_cursor(cursor)
            query["$or"] = [
                {"attempted_at": {"$lt": attempted_at}},
                {"attempted_at": attempted_at, "_id": {"$lt": attempt_id}},
            ]
        with unavailable_on_failure():
            rows = await self.deliveries.find(query).sort(NEWEST_FIRST).to_list(limit + 1)
        items = [
            WebhookDelivery.model_validate(
                {**{k: v for k, v in r.items() if k != "_id"}, "id": r["_id"]}
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return items, encode_cursor(items[-1].attempted_at, items[-1].id) if more else None
