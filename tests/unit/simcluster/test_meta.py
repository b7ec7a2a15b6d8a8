"""Label and field selectors, as `?labelSelector=` and `?fieldSelector=` use them."""

from __future__ import annotations

import pytest
from slipway_simcluster.errors import ApiError
from slipway_simcluster.meta import FieldSelector, LabelSelector, human_age

LABELS = {"app": "web", "tier": "front", "track": "stable"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web,tier=front", True),
        ("app=api", False),
        ("app!=api", True),
        ("tier in (front, back)", True),
        ("tier notin (front)", False),
        ("track", True),
        ("!track", False),
        ("missing", False),
        ("!missing", True),
    ],
)
def test_label_selector_strings(selector: str, expected: bool) -> None:
    assert LabelSelector.parse(selector).matches(LABELS) is expected


def test_label_selector_object_round_trips_to_text() -> None:
    selector = LabelSelector.from_object(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
        }
    )

    assert selector.matches(LABELS)
    assert str(selector) == "app=web,tier in (front)"
    assert LabelSelector.parse(str(selector)).matches(LABELS)


def test_malformed_label_selector_is_bad_request() -> None:
    with pytest.raises(ApiError) as raised:
        LabelSelector.parse("app in web")

    assert raised.value.code == 400


def test_field_selector_on_nested_fields() -> None:
    pod = {"metadata": {"name": "web-1", "namespace": "shop"}, "status": {"phase": "Running"}}

    assert FieldSelector.parse("metadata.name=web-1,status.phase=Running").matches(pod)
    assert not FieldSelector.parse("status.phase!=Running").matches(pod)
    assert FieldSelector.parse("spec.nodeName=").matches(pod), "absent fields compare as empty"


def test_human_age_like_kubectl() -> None:
    assert human_age("2025-01-01T00:00:00Z", now=1735689600 + 45) == "45s"
    assert human_age("2025-01-01T00:00:00Z", now=1735689600 + 600) == "10m"
    assert human_age("2025-01-01T00:00:00Z", now=1735689600 + 3 * 86400) == "3d"
