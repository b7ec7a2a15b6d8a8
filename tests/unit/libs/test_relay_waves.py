"""How the outbox relay cuts a batch into waves published together."""

from __future__ import annotations

from slipway_libs.relay import waves


def rows(*keys: str | None) -> list[dict[str, object]]:
    return [{"_id": i, "key": key} for i, key in enumerate(keys)]


def ids(batch: list[dict[str, object]]) -> list[list[object]]:
    return [[row["_id"] for row in wave] for wave in waves(batch)]


def test_different_entities_go_out_together():
    assert ids(rows("a", "b", "c")) == [[0, 1, 2]]


def test_an_entitys_next_message_waits_for_the_next_wave():
    assert ids(rows("a", "b", "a", "c", "b")) == [[0, 1], [2, 3, 4]]


def test_a_row_without_a_key_goes_alone():
    assert ids(rows("a", None, "b", "c")) == [[0], [1], [2, 3]]


def test_nothing_pending_is_no_wave():
    assert ids([]) == []
