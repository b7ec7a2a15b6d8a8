"""MongoDB storage on PyMongo's async API: repositories with optimistic concurrency on
`revision`, a unit of work that commits entity writes, outbox messages and kept command
replies in one transaction."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from bson import ObjectId
from pydantic import BaseModel, ValidationError
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from slipway_libs import context
from slipway_libs.aggregate import Aggregate
from slipway_libs.envelope import cloudevent
from slipway_libs.errors import NotFound, PreconditionFailed, SlipwayError, Unavailable

log = logging.getLogger(__name__)

OUTBOX = "outbox"
COMMAND_REPLIES = "command_replies"
T = TypeVar("T")
A = TypeVar("A", bound=Aggregate[Any])


class ConcurrentWrite(SlipwayError):
    """Another writer changed the entity first (its revision moved on)."""

    code = "precondition_failed"
    http_status = 412


def unavailable_from(exc: PyMongoError) -> Unavailable:
    """The Unavailable error for a MongoDB failure (no internals leak to the client)."""
    return Unavailable(f"MongoDB is unavailable: {type(exc).__name__}")


class Database:
    """One service's MongoDB database; nothing connects until first use."""

    def __init__(self, uri: str, name: str, timeout_s: float = 3.0) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=int(timeout_s * 1000),
            connectTimeoutMS=int(timeout_s * 1000),
        )
        self.db: AsyncDatabase[dict[str, Any]] = self.client[name]
        self.on_commit: list[Callable[[], None]] = []

    async def ping(self) -> None:
        """Raise Unavailable unless the database answers."""
        try:
            await self.db.command("ping")
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def ensure_indexes(self) -> None:
        """Indexes the outbox and the command-reply store need."""
        outbox = self.db[OUTBOX]
        await outbox.create_index([("published_at", ASCENDING), ("_id", ASCENDING)])
        await outbox.create_index("published_at", expireAfterSeconds=86400, name="published_ttl")
        await self.db[COMMAND_REPLIES].create_index(
            "created_at", expireAfterSeconds=86400, name="reply_ttl"
        )

    async def transaction(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run `work` in one MongoDB transaction (retried on transient errors)."""
        try:
            async with self.client.start_session() as session:

                async def callback(s: AsyncClientSession) -> T:
                    return await work(UnitOfWork(self, s))

                result = await session.with_transaction(callback)
        except (ConnectionFailure, OperationFailure) as exc:
            if isinstance(exc, OperationFailure) and not exc.has_error_label(
                "TransientTransactionError"
            ):
                raise
            raise unavailable_from(exc) from exc
        for hook in self.on_commit:
            hook()
        return result

    async def close(self) -> None:
        await self.client.close()


class UnitOfWork:
    """The writes of one transaction: entities, their events and jobs, a kept reply."""

    def __init__(self, database: Database, session: AsyncClientSession) -> None:
        self.database = database
        self.db = database.db
        self.session = session

    async def add_outbox(
        self, *, subject: str, stream: str, payload: dict[str, Any], msg_id: str
    ) -> None:
        """Queue a message for the relay; it is published only if this transaction commits."""
        await self.db[OUTBOX].insert_one(
            {
                "_id": ObjectId(),
                "msg_id": msg_id,
                "subject": subject,
                "stream": stream,
                "payload": json.dumps(payload, default=str).encode(),
                "correlationid": context.correlation_id.get(),
                "created_at": datetime.now(UTC),
                "published_at": None,
            },
            session=self.session,
        )

    async def keep_reply(self, command_id: str, fingerprint: str, reply: dict[str, Any]) -> None:
        """Keep a command's reply so a repeat of the command gets the same answer."""
        await self.db[COMMAND_REPLIES].insert_one(
            {
                "_id": command_id,
                "fingerprint": fingerprint,
                "reply": json.dumps(reply, default=str),
                "created_at": datetime.now(UTC),
            },
            session=self.session,
        )


def encode_cursor(created_at: datetime, entity_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), entity_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    from slipway_libs.errors import InvalidInput

    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, entity_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(entity_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInput.field("cursor", "is not a cursor this API returned") from exc


class Repository(Generic[A]):
    """Entities of one type in one collection, written through a unit of work.

    Each recorded change of an aggregate becomes one outbox event, and the entity's
    `revision` rises by one per change; a write whose loaded revision is no longer
    current fails with ConcurrentWrite.
    """

    def __init__(
        self,
        database: Database,
        collection: str,
        model: type[BaseModel],
        aggregate: type[A],
        entity: str,
        source: str,
        events_stream: str,
    ) -> None:
        self.database = database
        self.collection = database.db[collection]
        self.model = model
        self.aggregate = aggregate
        self.entity = entity
        self.source = source
        self.events_stream = events_stream

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("created_at", ASCENDING), ("_id", ASCENDING)])
        await self.collection.create_index("status")

    def _load(self, doc: dict[str, Any]) -> A:
        fields = {k: v for k, v in doc.items() if k != "_id"}
        try:
            state = self.model.model_validate({**fields, "id": doc["_id"]})
        except ValidationError as exc:  # stored data, not client input: an internal error
            raise SlipwayError(f"stored {self.entity} '{doc['_id']}' is unreadable: {exc}") from exc
        return self.aggregate(state, loaded_revision=int(fields["revision"]))

    async def find(self, entity_id: str, uow: UnitOfWork | None = None) -> A | None:
        """The entity, or None."""
        try:
            doc = await self.collection.find_one(
                {"_id": entity_id}, session=uow.session if uow else None
            )
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        return self._load(doc) if doc else None

    async def get(self, entity_id: str, uow: UnitOfWork | None = None) -> A:
        """The entity, or NotFound naming it."""
        found = await self.find(entity_id, uow)
        if found is None:
            raise NotFound(f"{self.entity} '{entity_id}' does not exist")
        return found

    async def page(
        self, query: dict[str, Any], cursor: str | None, limit: int
    ) -> tuple[list[A], str | None]:
        """One page of the entities matching a MongoDB query, oldest first, as aggregates
        (to change them), and the cursor of the next page (None at the end)."""
        if cursor:
            created, last_id = decode_cursor(cursor)
            after = [
                {"created_at": {"$gt": created}},
                {"created_at": created, "_id": {"$gt": last_id}},
            ]
            query = {**query, "$or": after}
        try:
            docs = await (
                self.collection.find(query)
                .sort([("created_at", ASCENDING), ("_id", ASCENDING)])
                .limit(limit + 1)
                .to_list()
            )
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        items = [self._load(d) for d in docs[:limit]]
        next_cursor = None
        if len(docs) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.state.created_at, last.id)
        return items, next_cursor

    async def list(
        self, *, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Any], str | None]:
        """One page, oldest first, and the cursor of the next page (None at the end)."""
        items, next_cursor = await self.page({"status": status} if status else {}, cursor, limit)
        return [item.state for item in items], next_cursor

    async def save(self, uow: UnitOfWork, item: A) -> None:
        """Write the aggregate and one outbox event per recorded change."""
        if not item.changes:
            return
        base = item.loaded_revision or 0
        deleted = item.changes[-1].event == "deleted"
        final_revision = base + len(item.changes)
        item.state = item.state.model_copy(update={"revision": final_revision})
        doc = item.state.model_dump(mode="python")
        doc["_id"] = doc.pop("id")
        if item.loaded_revision is None:
            await self.collection.insert_one(doc, session=uow.session)
        elif deleted:
            removed = await self.collection.delete_one(
                {"_id": item.id, "revision": base}, session=uow.session
            )
            if removed.deleted_count != 1:
                raise ConcurrentWrite(f"{self.entity} '{item.id}' changed meanwhile; retry")
        else:
            result = await self.collection.replace_one(
                {"_id": item.id, "revision": base}, doc, session=uow.session
            )
            if result.matched_count != 1:
                raise ConcurrentWrite(f"{self.entity} '{item.id}' changed meanwhile; retry")
        snapshot = item.state.model_dump(mode="json")
        for offset, change in enumerate(item.changes, start=1):
            version = base + offset
            envelope = cloudevent(
                entity=self.entity,
                event=change.event,
                entity_id=item.id,
                snapshot={**snapshot, "revision": version},
                previous_status=change.previous_status,
                entityversion=version,
                source=self.source,
                correlation_id=context.current_correlation_id(),
                causation_id=context.causation_id.get(),
            )
            await uow.add_outbox(
                subject=f"slipway.events.{self.entity}.{change.event}",
                stream=self.events_stream,
                payload=envelope,
                msg_id=envelope["id"],
            )
        item.loaded_revision = final_revision
        item.changes = []


async def change(
    repository: Repository[A],
    entity_id: str,
    apply: Callable[[A], object],
    queue: Callable[[UnitOfWork, A], Awaitable[None]] | None = None,
) -> bool:
    """Reload an entity in a transaction, apply one domain method and save it, with the job
    `queue` adds when the method changed it. False when the entity is gone or unchanged."""

    async def action(uow: UnitOfWork) -> bool:
        item = await repository.find(entity_id, uow)
        if item is None:
            return False
        apply(item)
        if not item.changes:
            return False
        await repository.save(uow, item)
        if queue is not None:
            await queue(uow, item)
        return True

    return await repository.database.transaction(action)


async def matching(repository: Repository[A], query: dict[str, Any]) -> list[A]:
    """Every entity of `repository` matching a MongoDB query, oldest first."""
    found: list[A] = []
    cursor = None
    while True:
        items, cursor = await repository.page(query, cursor, limit=500)
        found += items
        if cursor is None:
            return found


async def expire_overdue(
    repository: Repository[A],
    expire: Callable[[A, datetime], object],
    query: dict[str, Any] | None = None,
    *,
    deadline: str = "deadline",
) -> int:
    """The deadline sweep: `expire(entity, now)` on every entity matching `query` whose
    `deadline` field has passed, each in a transaction of its own; how many it changed."""
    now = datetime.now(UTC)
    expired = 0
    for item in await matching(repository, {**(query or {}), deadline: {"$lt": now}}):
        expired += await change(repository, item.id, lambda fresh: expire(fresh, now))
    return expired


def check_if_match(item: Aggregate[Any], expected_revision: int | None) -> None:
    """Raise PreconditionFailed when the client's If-Match revision is not current."""
    if expected_revision is not None and expected_revision != item.revision:
        raise PreconditionFailed(
            f"revision {expected_revision} is not current: the entity is at revision "
            f"{item.revision}",
            {"current_revision": item.revision},
        )


def deadline_in(seconds: float) -> datetime:
    """A deadline `seconds` from now."""
    return datetime.now(UTC) + timedelta(seconds=seconds)
