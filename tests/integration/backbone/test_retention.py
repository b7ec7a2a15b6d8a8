"""Retention settings on real MongoDB and NATS JetStream: build log lines expire by a TTL
index (`SLIPWAY_BUILD_LOG_RETENTION_DAYS`), SLIPWAY_EVENTS keeps events
`SLIPWAY_EVENTS_MAX_AGE_DAYS`."""

from __future__ import annotations

import uuid

import nats
import pytest

from slipway_contracts import subjects
from slipway_image_builder.adapters.build_logs import TTL_INDEX, BuildLogStore
from slipway_image_builder.settings import ImageBuilderSettings
from slipway_libs.messaging import ensure_streams
from slipway_libs.settings import CommonSettings
from slipway_libs.storage import Database

DAY_S = 86400


async def test_build_logs_expire_after_the_configured_days(stack, monkeypatch, tmp_path):
    database = Database(stack.mongodb_uri, f"logs_{uuid.uuid4().hex[:8]}")
    try:
        for days in (7, 3):  # a changed setting changes the kept index
            monkeypatch.setenv("SLIPWAY_BUILD_LOG_RETENTION_DAYS", str(days))
            settings = ImageBuilderSettings(state_dir=tmp_path)
            logs = BuildLogStore(database, settings.build_log_retention_days)
            await logs.ensure_indexes()
            await logs.append("img-1", "b-1", 0, ["Step 1/2 : FROM scratch"])
            index = (await logs.collection.index_information())[TTL_INDEX]
            assert index["key"] == [("at", 1)]
            assert index["expireAfterSeconds"] == days * DAY_S
    finally:
        await database.client.drop_database(database.db.name)
        await database.close()


def test_a_retention_of_zero_days_is_refused_naming_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("SLIPWAY_EVENTS_MAX_AGE_DAYS", "0")
    with pytest.raises(ValueError, match="events_max_age_days"):
        CommonSettings()


async def test_the_event_stream_keeps_events_the_configured_days(stack, monkeypatch):
    nc = await nats.connect(**stack.nats_options("admin"))
    js = nc.jetstream()
    try:
        monkeypatch.setenv("SLIPWAY_EVENTS_MAX_AGE_DAYS", "2")
        await ensure_streams(js, 1, CommonSettings().events_max_age_days)
        info = await js.stream_info(subjects.EVENTS_STREAM)
        assert info.config.max_age == 2 * DAY_S
        await ensure_streams(js)  # a caller without the setting (the gateway) keeps it
        assert (await js.stream_info(subjects.EVENTS_STREAM)).config.max_age == 2 * DAY_S
    finally:
        await ensure_streams(js, 1, CommonSettings(events_max_age_days=30).events_max_age_days)
        await nc.close()
