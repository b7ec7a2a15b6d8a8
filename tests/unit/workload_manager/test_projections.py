"""Reading the other services' events into the rows the projections keep."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slipway_workload_manager.domain.projections import (
    NotProjected,
    ProjectedImage,
    newest,
    parse_event,
    waves,
)
from tests.unit.workload_manager.fakes import cluster_event, event, image_event


def test_an_image_event_gives_its_status_reference_and_digest():
    parsed = parse_event(image_event("built", 3))
    assert (parsed.entity, parsed.event, parsed.entity_id, parsed.entityversion) == (
        "container_image",
        "built",
        "img-1",
        3,
    )
    assert parsed.fields["reference"] == "shop/web:1.0.0"
    assert parsed.fields["digest"] == "sha256:a"
    assert not parsed.deletes


def test_a_cluster_event_gives_its_status_reason_and_api_server():
    parsed = parse_event(cluster_event("error", 7, reason="apiserver not answering"))
    assert parsed.fields["status"] == "error"
    assert parsed.fields["reason"] == "apiserver not answering"
    assert parsed.fields["api_server"] == "https://x"


def test_a_deleted_event_deletes():
    assert parse_event(event("helm_chart", "deleted", "ch-1", 4, status="valid")).deletes


@pytest.mark.parametrize(
    "envelope",
    [
        event("deployment", "running", "d1", 2, status="running"),  # our own entities
        {"type": "io.slipway.container_image.built.v1", "subject": "i1", "data": {}},
        {"type": "com.example.other", "subject": "x", "entityversion": 1, "data": {}},
    ],
)
def test_events_not_to_project_are_refused(envelope):
    with pytest.raises(NotProjected):
        parse_event(envelope)


def test_an_image_runs_from_its_registry_only_once_pushed_with_a_digest():
    built = ProjectedImage(id="i", status="built", name="shop/web", tag="1.0.0", digest="sha256:a")
    assert built.pushed_reference is None
    pushed = replace(built, repository="127.0.0.1:5000/team/web")
    assert pushed.pushed_reference == "127.0.0.1:5000/team/web@sha256:a"
    assert replace(pushed, digest=None).pushed_reference is None


def _versions(cut):
    return [[(e.entity_id, e.event, e.entityversion) for e in wave] for wave in cut]


def test_a_wave_holds_no_later_event_of_an_entity_after_one_to_react_to():
    created, running, stopped = (
        parse_event(cluster_event(status, version))
        for status, version in (("created", 1), ("running", 2), ("stopped", 3))
    )
    other = parse_event(image_event("built", 1))
    cut = waves([created, running, other, stopped, other])
    assert _versions(cut) == [
        [("cl-1", "created", 1), ("cl-1", "running", 2), ("img-1", "built", 1)],
        [("cl-1", "stopped", 3), ("img-1", "built", 1)],  # after `running`, reacted to
    ]
    assert waves([]) == []


def test_the_newest_event_of_each_entity_is_the_one_written():
    events = [parse_event(image_event(s, v)) for s, v in (("built", 3), ("building", 2))]
    events.append(parse_event(cluster_event("running", 1)))
    assert [(e.entity_id, e.entityversion) for e in newest(events)] == [("img-1", 3), ("cl-1", 1)]
