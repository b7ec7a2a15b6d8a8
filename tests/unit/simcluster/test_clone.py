"""The simulated cluster's copies of API objects are as deep as `copy.deepcopy`'s."""

from __future__ import annotations

from slipway_simcluster.clone import clone


def test_a_clone_is_equal_and_shares_nothing_that_can_change() -> None:
    obj = {
        "metadata": {"name": "web", "labels": {"app": "web"}, "generation": 2},
        "spec": {"replicas": 1, "paused": False, "ratio": 0.5, "selector": None},
        "items": [{"ports": [80, 443]}, ["nested"]],
    }
    copied = clone(obj)
    assert copied == obj
    copied["metadata"]["labels"]["app"] = "api"
    copied["items"][0]["ports"].append(8080)
    copied["items"][1].append("more")
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["items"] == [{"ports": [80, 443]}, ["nested"]]


def test_what_is_not_json_data_is_still_copied_deeply() -> None:
    obj = {"pair": ({"a": 1},), "names": {"x"}}
    copied = clone(obj)
    assert copied == obj
    copied["pair"][0]["a"] = 2
    copied["names"].add("y")
    assert obj == {"pair": ({"a": 1},), "names": {"x"}}
