"""An audit entry MongoDB refused after its change was made (a primary failing over) is
stored again once MongoDB takes it, or logged whole when it never does."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest

from slipway_contracts.access import AuditEvent
from slipway_gateway.entrypoints import auditing
from slipway_libs.errors import Unavailable


class FlakyStore:
    """An audit store that refuses the first `refusals` writes, as during an election."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.stored: list[AuditEvent] = []

    async def record(self, entry: AuditEvent) -> None:
        if self.refusals > 0:
            self.refusals -= 1
            raise Unavailable("MongoDB is unavailable: AutoReconnect")
        self.stored.append(entry)


def entry() -> AuditEvent:
    now = datetime.now(UTC).isoformat()
    return AuditEvent.model_validate(
        {
            "auditID": str(uuid.uuid4()),
            "requestURI": "/api/deployments",
            "verb": "create",
            "user": {"username": "admin"},
            "objectRef": {"resource": "deployments"},
            "responseStatus": {"status": "Success", "code": 202},
            "requestReceivedTimestamp": now,
            "stageTimestamp": now,
        }
    )


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auditing, "STORE_AGAIN_EVERY_S", 0.01)
    monkeypatch.setattr(auditing, "STORE_AGAIN_FOR_S", 0.5)


async def test_an_entry_is_stored_once_mongodb_takes_writes_again() -> None:
    store, kept = FlakyStore(refusals=3), entry()
    await auditing.store_again(store, kept)  # type: ignore[arg-type]
    assert store.stored == [kept]


async def test_an_entry_never_taken_is_logged_whole(caplog: pytest.LogCaptureFixture) -> None:
    store, kept = FlakyStore(refusals=10_000), entry()
    with caplog.at_level(logging.ERROR, logger=auditing.__name__):
        await auditing.store_again(store, kept)  # type: ignore[arg-type]
    assert store.stored == []
    [record] = [r for r in caplog.records if r.getMessage() == "audit entry not stored"]
    assert record.audit["auditID"] == kept.auditID  # type: ignore[attr-defined]
