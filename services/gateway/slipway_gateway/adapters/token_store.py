"""API tokens in the gateway's MongoDB database (collection `tokens`): each kept as the
sha256 of its secret, never the secret. Needed on every call: a token looked up is kept in
memory (`KnownTokens`) while a change stream on `tokens` says it has not changed, so a
revocation, a role changed or an expiry moved holds within milliseconds on every gateway
replica (at once on the one that revoked it), and a busy token costs no round trip."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from slipway_contracts.access import CreatedToken, CreateToken, Role, Token, TokenScope
from slipway_gateway.access.identity import StoredToken, digest, mint_secret
from slipway_gateway.adapters.collection_watch import CollectionWatch
from slipway_libs.storage import Database, decode_cursor, encode_cursor, unavailable_from

log = logging.getLogger(__name__)

COLLECTION = "tokens"
# `last_used_at` is written at most this often per token: a busy token costs no write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
LISTING_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]
LIVE = {"revoked_at": None}
# Tokens kept in memory at most; past that, what is kept is dropped and read again.
KNOWN_MAX = 10_000


class KnownTokens(CollectionWatch):
    """The tokens looked up here, by the hash of their secret (revoked and expired ones
    too: `principal_of` refuses them), each dropped when its document changes."""

    name = "tokens change stream"

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        super().__init__(collection)
        self.by_hash: dict[str, StoredToken] = {}
        self.hash_of: dict[str, str] = {}  # token id -> the hash it is kept under

    def get(self, secret_hash: str) -> StoredToken | None:
        return self.by_hash.get(secret_hash) if self.fresh else None

    def keep(self, secret_hash: str, token: StoredToken, reading: int) -> None:
        """Keep a token read from MongoDB, unless a change came since `reading`."""
        if not self.may_keep(reading):
            return
        if len(self.by_hash) >= KNOWN_MAX:
            self.clear()
        self.by_hash[secret_hash] = token
        self.hash_of[token.id] = secret_hash

    def replace(self, token: StoredToken, by: StoredToken) -> None:
        """Keep `by` instead of `token`, if `token` is what is kept of it."""
        secret_hash = self.hash_of.get(token.id)
        if secret_hash is not None and self.by_hash.get(secret_hash) is token:
            self.by_hash[secret_hash] = by

    def drop(self, token_id: str) -> None:
        secret_hash = self.hash_of.pop(token_id, None)
        if secret_hash is not None:
            self.by_hash.pop(secret_hash, None)

    def changed(self, change: dict[str, Any]) -> None:
        key = change.get("documentKey")
        if key is None:  # the collection itself dropped or renamed
            self.clear()
        else:
            self.drop(str(key["_id"]))

    def clear(self) -> None:
        self.by_hash.clear()
        self.hash_of.clear()


class TokenStore:
    def __init__(self, database: Database) -> None:
        self.collection = database.db[COLLECTION]
        self.known = KnownTokens(self.collection)

    def start(self) -> None:
        """Keep the tokens looked up (once the change stream on them is open)."""
        self.known.start()

    async def stop(self) -> None:
        await self.known.stop()

    async def ensure_indexes(self) -> None:
        try:
            await self.collection.create_index("hash", unique=True, name="hash_unique")
            await self.collection.create_index(LISTING_ORDER)
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc

    async def create(self, request: CreateToken, created_by: str, now: datetime) -> CreatedToken:
        """A new token; its secret is in the answer and nowhere else."""
        secret = mint_secret()
        now = as_stored(now)
        expires_at = now + timedelta(seconds=request.expires_in_s) if request.expires_in_s else None
        token = Token(
            id=str(uuid.uuid4()),
            name=request.name,
            role=request.role,
            scope=request.scope,
            created_at=now,
            expires_at=expires_at,
            created_by=created_by,
        )
        try:
            await self.collection.insert_one(document(token, digest(secret)))
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        return CreatedToken(**token.model_dump(), token=secret)

    async def register(self, secret: str, name: str, role: Role, now: datetime) -> bool:
        """Keep `secret` as a token unless one with its hash exists, revoked or not (a
        revoked token is never brought back). True when this call registered it."""
        token = Token(
            id=str(uuid.uuid4()), name=name, role=role, scope=TokenScope(), created_at=now
        )
        row = document(token, digest(secret))
        try:
            result = await self.collection.update_one(
                {"hash": row["hash"]}, {"$setOnInsert": row}, upsert=True
            )
        except DuplicateKeyError:  # another replica registered it in the same instant
            return False
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        return result.upserted_id is not None

    async def find_by_secret(self, secret: str) -> StoredToken | None:
        """The token whose secret this is, revoked or expired ones included."""
        secret_hash = digest(secret)
        if (known := self.known.get(secret_hash)) is not None:
            return known
        reading = self.known.reading()
        try:
            row = await self.collection.find_one({"hash": secret_hash})
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        if row is None:
            return None
        token = stored(row)
        self.known.keep(secret_hash, token, reading)
        return token

    async def note_use(self, token: StoredToken, now: datetime) -> None:
        """Set `last_used_at`, at most once a minute per token (whichever replica first)."""
        stale = now - LAST_USED_RESOLUTION
        if token.last_used_at is not None and token.last_used_at > stale:
            return
        # Known as used from now on, so the calls that come before its change do not note it.
        self.known.replace(token, token.model_copy(update={"last_used_at": now}))
        try:
            await self.collection.update_one(
                {
                    "_id": token.id,
                    "$or": [{"last_used_at": None}, {"last_used_at": {"$lte": stale}}],
                },
                {"$set": {"last_used_at": now}},
            )
        except PyMongoError as exc:  # bookkeeping: the call goes on without it
            log.warning("could not note a token's use", extra={"error": repr(exc)})

    async def get(self, token_id: str) -> Token | None:
        """A live (not revoked) token."""
        try:
            row = await self.collection.find_one({"_id": token_id, **LIVE})
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        return listed(row) if row else None

    async def page(self, cursor: str | None, limit: int) -> tuple[list[Token], str | None]:
        """Live tokens oldest first, and the cursor of the next page (None: no more)."""
        query: dict[str, Any] = dict(LIVE)
        if cursor:
            created_at, token_id = decode_cursor(cursor)
            query["$or"] = [
                {"created_at": {"$gt": created_at}},
                {"created_at": created_at, "_id": {"$gt": token_id}},
            ]
        try:
            rows = await self.collection.find(query).sort(LISTING_ORDER).to_list(limit + 1)
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        items = [listed(row) for row in rows[:limit]]
        more = len(rows) > limit
        return items, encode_cursor(items[-1].created_at, items[-1].id) if more else None

    async def revoke(self, token_id: str, now: datetime) -> bool:
        """Revoke a token at once; False when there is no such token. Revoking twice
        keeps the first time."""
        try:
            result = await self.collection.update_one(
                {"_id": token_id, **LIVE}, {"$set": {"revoked_at": now}}
            )
            self.known.forget()  # here at once, before its change comes
            return result.matched_count == 1 or (
                await self.collection.count_documents({"_id": token_id}, limit=1) == 1
            )
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc


def as_stored(moment: datetime) -> datetime:
    """A moment as MongoDB keeps it (to the millisecond), so an answer matches later reads."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def document(token: Token, secret_hash: str) -> dict[str, Any]:
    fields = token.model_dump(mode="python", exclude={"id"})
    fields["scope"] = token.scope.model_dump(mode="json")
    fields["role"] = str(token.role)
    return {"_id": token.id, **fields, "hash": secret_hash, "revoked_at": None}


def stored(row: dict[str, Any]) -> StoredToken:
    fields = {k: v for k, v in row.items() if k not in ("_id", "hash")}
    return StoredToken.model_validate({**fields, "id": row["_id"]})


def listed(row: dict[str, Any]) -> Token:
    return Token.model_validate(stored(row).model_dump(exclude={"revoked_at"}))
