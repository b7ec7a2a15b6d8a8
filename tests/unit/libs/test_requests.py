"""Request-reply over NATS (`slipway_libs.requests`), against a stand-in connection."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nats.errors import NoRespondersError

from slipway_libs.errors import Unavailable
from slipway_libs.requests import request


class Reply:
    def __init__(self, data: Any) -> None:
        self.data = json.dumps({"ok": True, "data": data}).encode()


class Connection:
    """A connected NATS client whose first `nobody` requests find no subscriber."""

    is_connected = True

    def __init__(self, nobody: int) -> None:
        self.nobody = nobody
        self.sent: list[str] = []

    async def request(self, subject: str, body: bytes, **_: Any) -> Reply:
        self.sent.append(subject)
        if len(self.sent) <= self.nobody:
            raise NoRespondersError
        return Reply({"id": "c1"})


async def test_a_request_that_finds_no_subscriber_yet_is_sent_once_more():
    """A replica starting or restarting subscribes a moment later: it answers the retry."""
    connection = Connection(nobody=1)
    answer = await request(connection, "slipway.x.cmd.create", {}, timeout_s=2)  # type: ignore[arg-type]
    assert answer == {"id": "c1"}
    assert connection.sent == ["slipway.x.cmd.create"] * 2


async def test_no_subscriber_twice_is_unavailable_naming_the_subject():
    connection = Connection(nobody=2)
    with pytest.raises(Unavailable, match=r"no service is answering slipway\.x\.cmd\.create"):
        await request(connection, "slipway.x.cmd.create", {}, timeout_s=2)  # type: ignore[arg-type]
    assert len(connection.sent) == 2
