"""Running on a NATS cluster and a MongoDB replica set: several servers in `nats_url`,
streams kept at `stream_replicas` (what `make run-ha` and the Helm chart set), and a write
still racing after a failover answered as retryable."""

from __future__ import annotations

from typing import Any

import pytest
from nats.js.api import StreamConfig, StreamInfo
from nats.js.errors import NotFoundError

from slipway_contracts import subjects
from slipway_libs.messaging import STREAMS, ensure_streams, error_reply, nats_options
from slipway_libs.settings import CommonSettings
from slipway_libs.unit_of_work import TransientConflict


class FakeJetStream:
    """The stream calls `ensure_streams` makes, on streams kept in a dict."""

    def __init__(self, streams: dict[str, StreamConfig] | None = None) -> None:
        self.streams = dict(streams or {})
        self.calls: list[str] = []

    async def stream_info(self, name: str) -> Any:
        if name not in self.streams:
            raise NotFoundError(code=404, description="stream not found")
        return StreamInfo(config=self.streams[name], state=None)  # type: ignore[arg-type]

    async def add_stream(self, config: StreamConfig) -> None:
        self.calls.append(f"add {config.name}")
        self.streams[str(config.name)] = config

    async def update_stream(self, config: StreamConfig) -> None:
        self.calls.append(f"update {config.name}")
        self.streams[str(config.name)] = config


def test_nats_url_lists_the_servers_of_a_cluster() -> None:
    settings = CommonSettings(
        nats_url="nats://127.0.0.1:4222, nats://127.0.0.1:4223,nats://127.0.0.1:4224,"
    )
    assert nats_options(settings)["servers"] == [
        "nats://127.0.0.1:4222",
        "nats://127.0.0.1:4223",
        "nats://127.0.0.1:4224",
    ]
    assert nats_options(CommonSettings())["servers"] == ["nats://127.0.0.1:4222"]


def test_stream_replicas_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CommonSettings().stream_replicas == 1
    monkeypatch.setenv("SLIPWAY_STREAM_REPLICAS", "3")
    assert CommonSettings().stream_replicas == 3
    monkeypatch.setenv("SLIPWAY_STREAM_REPLICAS", "0")
    with pytest.raises(ValueError, match="stream_replicas"):
        CommonSettings()


async def test_the_streams_are_made_and_kept_at_the_replicas_asked() -> None:
    js = FakeJetStream()
    await ensure_streams(js, replicas=3)  # type: ignore[arg-type]
    names = [subjects.EVENTS_STREAM, subjects.JOBS_STREAM, subjects.AUDIT_STREAM]
    assert js.calls == [f"add {name}" for name in names]
    assert {name: c.num_replicas for name, c in js.streams.items()} == dict.fromkeys(names, 3)

    await ensure_streams(js, replicas=3)  # type: ignore[arg-type]
    assert js.calls[3:] == [f"update {name}" for name in names]
    assert all(c.num_replicas is None for c in STREAMS)  # the shared configs are untouched


def test_a_write_still_racing_after_its_retries_is_answered_unavailable() -> None:
    # A failover or a retried command (its first run still committing) outlasts the quick
    # retries of a transient conflict: the client is told to retry (503), never a 500.
    reply = error_reply(TransientConflict("WriteConflict"))
    assert reply["ok"] is False
    assert reply["error"]["code"] == "unavailable"
