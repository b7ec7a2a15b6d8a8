from datetime import UTC, datetime, timedelta

import pytest

from slipway_contracts.commands import ImageSpec
from slipway_image_builder.domain.image import MB, BuildResult, ContainerImageAggregate, SizeLimits
from slipway_libs.errors import Conflict

SPEC = ImageSpec(name="todo/backend", tag="1.0.0", application="backend", build={"context": "app"})
LIMITS = SizeLimits(frontend=10 * MB, backend=100 * MB)
LATER = datetime.now(UTC) + timedelta(days=1)  # far enough that no run of the suite reaches it


def registered() -> ContainerImageAggregate:
    image = ContainerImageAggregate.register(SPEC, image_id="i1", build_id="b1", deadline=LATER)
    image.loaded_revision = 1
    image.changes.clear()
    return image


def result(size: int) -> BuildResult:
    return BuildResult(image_id="sha256:abc", size=size, digest="sha256:abc", user="65532")


def test_a_new_image_is_building_and_records_its_creation():
    image = ContainerImageAggregate.register(SPEC, image_id="i1", build_id="b1", deadline=LATER)
    assert image.status == "building"
    assert [c.event for c in image.changes] == ["created"]


def test_a_finished_build_records_size_digest_and_user():
    image = registered()
    image.build_succeeded("b1", result(5 * MB), LIMITS, scan_id="s1")
    assert image.status == "built"
    assert (image.state.size, image.state.user) == (5 * MB, "65532")
    assert [(c.event, c.previous_status) for c in image.changes] == [("built", "building")]


def test_an_image_over_its_application_limit_fails_with_the_limit_in_the_reason():
    image = registered()
    image.build_succeeded("b1", result(150 * MB), LIMITS, scan_id="s1")
    assert image.status == "failed"
    assert "exceeds the backend limit of 100.0 MB" in image.state.reason


def test_a_stale_build_changes_nothing():
    image = registered()
    image.build_succeeded("an-older-build", result(MB), LIMITS, scan_id="s1")
    image.build_failed("an-older-build", "boom")
    assert image.status == "building"
    assert image.changes == []


def test_changing_the_tag_rebuilds_but_changing_the_repository_only_updates():
    image = registered()
    image.build_succeeded("b1", result(MB), LIMITS, scan_id="s1")
    assert not image.respecify(
        SPEC.model_copy(update={"repository": "localhost:5000/todo"}), build_id="b2", deadline=LATER
    )
    assert image.changes[-1].event == "updated"
    assert image.respecify(SPEC.model_copy(update={"tag": "1.1.0"}), build_id="b3", deadline=LATER)
    assert image.status == "building"
    assert image.state.build_id == "b3"
    assert image.state.size is None


def test_a_building_image_cannot_be_respecified():
    with pytest.raises(Conflict, match="current status: building"):
        registered().respecify(
            SPEC.model_copy(update={"tag": "2.0.0"}), build_id="b2", deadline=LATER
        )


def test_a_build_past_its_deadline_fails():
    image = registered()
    assert not image.expire(datetime.now(UTC))
    assert image.expire(LATER + timedelta(seconds=1))
    assert image.status == "failed"
    assert "deadline" in image.state.reason


def test_a_vanished_image_fails_only_from_built():
    image = registered()
    assert not image.vanished()
    assert image.status == "building"
    image.build_succeeded("b1", result(MB), LIMITS, scan_id="s1")
    assert image.vanished()
    assert image.status == "failed"
    assert "no longer exists" in image.state.reason
