"""The audit log in the gateway's MongoDB database (collection `audit`): append-only,
entries kept `audit_retention_days` (a TTL index on `stageTimestamp`), one per `auditID`.

Entries are written in groups (`slipway_libs.group_commit`): while one insert is in
flight, the entries recorded meanwhile wait and go together in the next. Under load a call's
entry costs a share of one round trip to MongoDB instead of one of its own; each `record`
still returns only once its own entry is written, and raises when it was not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from slipway_contracts.access import AuditEvent
from slipway_gateway.access.audit_entries import APPROVAL_ID
from slipway_libs.errors import Unavailable
from slipway_libs.group_commit import GroupCommit
from slipway_libs.storage import Database, decode_cursor, encode_cursor, unavailable_from

COLLECTION = "audit"
TTL_INDEX = "audit_retention"
# Newest first; `auditID` breaks ties, so the page cursor is exact.
NEWEST_FIRST = [("stageTimestamp", DESCENDING), ("auditID", DESCENDING)]
# MongoDB's codes for an index that exists with other options.
INDEX_OPTIONS_CONFLICT = {85, 86}
# A write or ping that succeeded this recently answers `ping` without a round trip.
ANSWERED_FRESH_S = 1.0
# MongoDB's code for a unique index's refusal: the entry (its `auditID`) is already kept.
DUPLICATE_KEY = 11000
# The most entries one insert takes; more wait for the next.
GROUP_MAX = 500


@dataclass(frozen=True)
class AuditFilter:
    """Which entries to list; every given field must match."""

    actor: str | None = None  # the username or the uid (token id)
    resource: str | None = None
    name: str | None = None  # the entity id
    namespace: str | None = None
    verb: str | None = None
    outcome: str | int | None = None  # "success", "failure", or an HTTP status
    since: datetime | None = None
    until: datetime | None = None
    approval_id: str | None = None  # the annotation `slipway.io/approval-id`

    def query(self) -> dict[str, Any]:
        """This filter as a MongoDB query."""
        query: dict[str, Any] = {}
        if self.actor is not None:
            query["$or"] = [{"user.username": self.actor}, {"user.uid": self.actor}]
        equal = {
            "objectRef.resource": self.resource,
            "objectRef.name": self.name,
            "objectRef.namespace": self.namespace,
            "verb": self.verb,
        }
        query.update({field: value for field, value in equal.items() if value is not None})
        if isinstance(self.outcome, int):
            query["responseStatus.code"] = self.outcome
        elif self.outcome is not None:
            query["responseStatus.status"] = self.outcome.capitalize()
        if self.approval_id is not None:
            # The annotation's key holds dots, so it is read with $getField, not a path.
            annotation = {"$getField": {"field": APPROVAL_ID, "input": "$annotations"}}
            query["$expr"] = {"$eq": [annotation, self.approval_id]}
        stamp = {"$gte": self.since, "$lte": self.until}
        if stamp := {op: when for op, when in stamp.items() if when is not None}:
            query["stageTimestamp"] = stamp
        return query


class AuditStore:
    def __init__(self, database: Database, retention_days: int) -> None:
        self.database = database
        self.collection = database.db[COLLECTION]
        self.retention_s = retention_days * 86400
        self._answered_at = -math.inf  # when MongoDB last took a write or a ping
        self._group = GroupCommit(self._insert, most=GROUP_MAX)

    async def ensure_indexes(self) -> None:
        try:
            await self.collection.create_index("auditID", unique=True, name="audit_id_unique")
            await self.collection.create_index(NEWEST_FIRST)
            await self._ensure_retention()
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def _ensure_retention(self) -> None:
        """The TTL index; when the retention setting changed, it is made again with the new
        expiry (dropping an index needs only readWrite, changing one in place needs more)."""
        try:
            await self._create_ttl_index()
        except OperationFailure as exc:
            if exc.code not in INDEX_OPTIONS_CONFLICT:
                raise
            await self.collection.drop_index(TTL_INDEX)
            await self._create_ttl_index()

    async def _create_ttl_index(self) -> None:
        await self.collection.create_index(
            "stageTimestamp", expireAfterSeconds=self.retention_s, name=TTL_INDEX
        )

    async def ping(self) -> None:
        """Raise Unavailable unless the audit log can be written (known without a round trip
        while entries are being recorded: under load, a change costs no extra ping)."""
        if time.monotonic() - self._answered_at < ANSWERED_FRESH_S:
            return
        await self.database.ping()
        self._answered_at = time.monotonic()

    async def record(self, entry: AuditEvent) -> None:
        """Keep an entry; one already kept (same `auditID`) is left as it is. Returns once
        it is written (with the entries recorded alongside it); Unavailable if it was not."""
        await self._group.write(entry.model_dump(mode="python"))

    async def _insert(self, documents: list[dict[str, Any]]) -> list[Unavailable | None]:
        """Insert the entries' `documents`: for each, None once written, else its error."""
        try:
            if len(documents) == 1:  # the cheaper call, when the group is one entry
                await self.collection.insert_one(documents[0])
            else:
                await self.collection.insert_many(documents, ordered=False)
        except DuplicateKeyError:  # insert_one's: its entry is kept already
            pass
        except BulkWriteError as exc:
            failed = {
                error["index"]
                for error in exc.details.get("writeErrors", [])
                if error.get("code") != DUPLICATE_KEY
            }
            if exc.details.get("writeConcernErrors"):  # none is known to be kept
                failed = set(range(len(documents)))
            if failed:
                self._answered_at = -math.inf
                error = unavailable_from(exc)
                return [error if index in failed else None for index in range(len(documents))]
        except PyMongoError as exc:
            self._answered_at = -math.inf
            return [unavailable_from(exc)] * len(documents)
        self._answered_at = time.monotonic()
        return [None] * len(documents)

    async def page(
        self, where: AuditFilter, cursor: str | None, limit: int
    ) -> tuple[list[AuditEvent], str | None]:
        """Entries newest first, and the cursor of the next page (None: no more)."""
        query = where.query()
        if cursor:
            stamp, audit_id = decode_cursor(cursor)
            after = {
                "$or": [
                    {"stageTimestamp": {"$lt": stamp}},
                    {"stageTimestamp": stamp, "auditID": {"$lt": audit_id}},
                ]
            }
            query = {"$and": [query, after]} if query else after
        try:
            rows = (
                await self.collection.find(query, {"_id": False})
                .sort(NEWEST_FIRST)
                .to_list(limit + 1)
            )
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        items = [AuditEvent.model_validate(row) for row in rows[:limit]]
        last = items[-1] if len(rows) > limit else None
        return items, encode_cursor(last.stageTimestamp, last.auditID) if last else None
