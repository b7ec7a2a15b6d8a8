"""Approvals in the gateway's MongoDB database (collection `approvals`): one document per
approval, written with optimistic concurrency on `revision` (two approvers racing: one
write wins, the other finds the approval decided). The command's sendable body is kept
sealed (AES-GCM, the installation's secret key, bound to the approval's id): what is shown
of it has its credentials redacted, what is sent is the body as the agent asked for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import PyMongoError

from slipway_contracts.approvals import Approval, ApprovalStatus
from slipway_keys.secrets import SealedSecretError, Sealer
from slipway_libs.errors import NotFound, SlipwayError
from slipway_libs.storage import Database, decode_cursor, encode_cursor, unavailable_from

COLLECTION = "approvals"
LISTING_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]
SEALED = "sealed_payload"
ANNOUNCED = "announced_revision"  # the last revision whose event was published
PRIVATE = {SEALED: False, ANNOUNCED: False}


@contextmanager
def unavailable_on_failure() -> Iterator[None]:
    try:
        yield
    except PyMongoError as exc:
        raise unavailable_from(exc) from exc


def as_stored(moment: datetime) -> datetime:
    """A moment as MongoDB keeps it (to the millisecond), so an answer matches later reads."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def sealing_context(approval_id: str) -> bytes:
    return f"approval/{approval_id}/payload".encode()


def document(approval: Approval) -> dict[str, Any]:
    fields = approval.model_dump(mode="json", exclude={"id"})
    for moment in ("created_at", "expires_at", "last_updated", "decided_at"):
        value = getattr(approval, moment)
        fields[moment] = as_stored(value) if value is not None else None
    return {"_id": approval.id, **fields}


def loaded(row: dict[str, Any]) -> Approval:
    fields = {k: v for k, v in row.items() if k not in ("_id", SEALED, ANNOUNCED)}
    return Approval.model_validate({**fields, "id": row["_id"]})


class ApprovalStore:
    def __init__(self, database: Database, sealer: Sealer) -> None:
        self.collection = database.db[COLLECTION]
        self.sealer = sealer

    async def ensure_indexes(self) -> None:
        with unavailable_on_failure():
            await self.collection.create_index(LISTING_ORDER)
            await self.collection.create_index([("status", ASCENDING), *LISTING_ORDER])
            await self.collection.create_index([("status", ASCENDING), ("expires_at", ASCENDING)])

    async def add(self, approval: Approval, payload: dict[str, Any]) -> Approval:
        """Keep a new approval and, sealed, the body its command will send."""
        row = document(approval)
        sealed = self.sealer.seal(json.dumps(payload).encode(), sealing_context(approval.id))
        with unavailable_on_failure():
            await self.collection.insert_one({**row, SEALED: sealed, ANNOUNCED: 0})
        return loaded(row)

    async def get(self, approval_id: str) -> Approval | None:
        with unavailable_on_failure():
            row = await self.collection.find_one({"_id": approval_id}, PRIVATE)
        return loaded(row) if row else None

    async def payload(self, approval_id: str) -> dict[str, Any]:
        """The command's body as it is to be sent (unsealed)."""
        with unavailable_on_failure():
            row = await self.collection.find_one({"_id": approval_id}, {SEALED: True})
        if row is None:
            raise NotFound(f"approval '{approval_id}' does not exist")
        try:
            opened = self.sealer.open_sealed(row[SEALED], sealing_context(approval_id))
        except SealedSecretError as exc:
            raise SlipwayError(
                "the command's sealed body cannot be opened (was the secret key changed?)"
            ) from exc
        payload: dict[str, Any] = json.loads(opened)
        return payload

    async def replace(self, approval: Approval, expected_revision: int) -> bool:
        """Write `approval` over the stored one if that is still at `expected_revision`;
        False when another write came first."""
        row = document(approval)
        del row["_id"]
        with unavailable_on_failure():
            result = await self.collection.update_one(
                {"_id": approval.id, "revision": expected_revision}, {"$set": row}
            )
        return result.matched_count == 1

    async def page(
        self, status: ApprovalStatus | None, cursor: str | None, limit: int
    ) -> tuple[list[Approval], str | None]:
        """Approvals oldest first (of one status, if given), and the next page's cursor."""
        query: dict[str, Any] = {"status": str(status)} if status else {}
        if cursor:
            created_at, approval_id = decode_cursor(cursor)
            query["$or"] = [
                {"created_at": {"$gt": created_at}},
                {"created_at": created_at, "_id": {"$gt": approval_id}},
            ]
        with unavailable_on_failure():
            rows = await self.collection.find(query, PRIVATE).sort(LISTING_ORDER).to_list(limit + 1)
        items = [loaded(row) for row in rows[:limit]]
        more = len(rows) > limit
        return items, encode_cursor(items[-1].created_at, items[-1].id) if more else None

    async def overdue(self, now: datetime) -> list[Approval]:
        """Pending approvals whose `expires_at` has passed."""
        return await self._find(
            {"status": str(ApprovalStatus.PENDING), "expires_at": {"$lte": now}}
        )

    async def unsettled(self, decided_before: datetime) -> list[Approval]:
        """Approved approvals whose command has had no outcome since `decided_before`."""
        return await self._find(
            {"status": str(ApprovalStatus.APPROVED), "decided_at": {"$lte": decided_before}}
        )

    async def unannounced(self) -> list[Approval]:
        """Approvals whose latest revision has had no event published yet."""
        return await self._find({"$expr": {"$gt": ["$revision", f"${ANNOUNCED}"]}})

    async def announced(self, approval: Approval) -> None:
        """Note that `approval`'s event (at its revision) was published."""
        with unavailable_on_failure():
            await self.collection.update_one(
                {"_id": approval.id}, {"$max": {ANNOUNCED: approval.revision}}
            )

    async def _find(self, query: dict[str, Any]) -> list[Approval]:
        with unavailable_on_failure():
            rows = await self.collection.find(query, PRIVATE).to_list(None)
        return [loaded(row) for row in rows]
