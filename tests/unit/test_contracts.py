from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from slipway_contracts.commands import BuildImage, CreateDeployment
from slipway_contracts.entities import Deployment, Placement, TopologySpread

GOOD = {
    "name": "todo/backend",
    "tag": "1.2.3",
    "application": "backend",
    "build": {"context": "app"},
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Todo_Backend!"),
        ("name", "UPPER"),
        ("name", "-leading-dash"),
        ("name", "a//b"),
        ("tag", "v1.x"),
        ("tag", "1.0"),
        ("tag", "banana"),
        ("application", "database"),
    ],
)
def test_bad_image_fields_are_refused_naming_the_field(field, value):
    with pytest.raises(ValidationError) as caught:
        BuildImage.model_validate({**GOOD, field: value})
    assert [e["loc"][0] for e in caught.value.errors()] == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "registry-1/team.app/web_ui"),
        ("tag", "latest"),
        ("tag", "v2.0.0"),
        ("tag", "1.0.0-rc.1+build.5"),
        ("repository", "localhost:5000/team/app"),
    ],
)
def test_docker_style_names_and_semver_tags_are_accepted(field, value):
    assert getattr(BuildImage.model_validate({**GOOD, field: value}), field) == value


def test_unknown_fields_are_refused_not_dropped():
    with pytest.raises(ValidationError) as caught:
        BuildImage.model_validate({**GOOD, "status": "built"})
    assert caught.value.errors()[0]["loc"] == ("status",)


# --- a Deployment's placement ------------------------------------------------------------

DEPLOYMENT = {"name": "web", "cluster_id": "c-1", "image": "shop/web:1.0.0", "container_port": 80}
HOST = "kubernetes.io/hostname"


def placement_errors(placement: dict[str, Any]) -> list[tuple[str, str]]:
    """The (dotted field, message) of each error, as the gateway's 422 lists them."""
    with pytest.raises(ValidationError) as caught:
        CreateDeployment.model_validate({**DEPLOYMENT, "placement": placement})
    return [
        (".".join(str(part) for part in error["loc"]), error["msg"])
        for error in caught.value.errors()
    ]


def test_without_placement_the_replicas_are_spread_over_the_nodes_as_a_preference():
    placement = CreateDeployment.model_validate(DEPLOYMENT).placement
    assert placement.model_dump() == {
        "node_selector": {},
        "pod_affinity": [],
        "pod_anti_affinity": [],
        "topology_spread": [
            {
                "topology_key": HOST,
                "max_skew": 1,
                "when_unsatisfiable": "ScheduleAnyway",
                "match_labels": None,
            }
        ],
    }


def test_a_preferred_term_weighs_100_unless_told_and_a_required_one_has_no_weight():
    placement = Placement.model_validate(
        {
            "pod_anti_affinity": [
                {"topology_key": HOST},
                {"topology_key": "topology.kubernetes.io/zone", "weight": 20},
                {"topology_key": HOST, "match_labels": {"app": "db"}, "required": True},
            ],
            "topology_spread": [],
        }
    )
    assert [(t.required, t.weight) for t in placement.pod_anti_affinity] == [
        (False, 100),
        (False, 20),
        (True, None),
    ]
    assert placement.topology_spread == []


@pytest.mark.parametrize(
    ("placement", "field", "message"),
    [
        (
            {"pod_anti_affinity": [{"topology_key": HOST, "required": True, "weight": 50}]},
            "placement.pod_anti_affinity.0.weight",
            "a required term takes no weight",
        ),
        (
            {"pod_affinity": [{"topology_key": HOST, "weight": 101}]},
            "placement.pod_affinity.0.weight",
            "less than or equal to 100",
        ),
        (
            {"pod_affinity": [{"topology_key": HOST, "weight": 0}]},
            "placement.pod_affinity.0.weight",
            "greater than or equal to 1",
        ),
        (
            {"pod_anti_affinity": [{"topology_key": "host name"}]},
            "placement.pod_anti_affinity.0.topology_key",
            "'host name' is not a valid label key",
        ),
        (
            {"pod_anti_affinity": [{"required": True}]},
            "placement.pod_anti_affinity.0.topology_key",
            "Field required",
        ),
        (
            {"pod_affinity": [{"topology_key": HOST, "match_labels": {}}]},
            "placement.pod_affinity.0.match_labels",
            "give at least one label",
        ),
        (
            {"pod_affinity": [{"topology_key": HOST, "match_labels": {"app": "a b"}}]},
            "placement.pod_affinity.0.match_labels.app",
            "'a b' is not a valid label value",
        ),
        (
            {"pod_anti_affinity": [{"topology_key": HOST}] * 9},
            "placement.pod_anti_affinity",
            "at most 8 items",
        ),
        (
            {"topology_spread": [{"topology_key": HOST, "max_skew": 0}]},
            "placement.topology_spread.0.max_skew",
            "greater than or equal to 1",
        ),
        (
            {"topology_spread": [{"topology_key": HOST, "when_unsatisfiable": "Never"}]},
            "placement.topology_spread.0.when_unsatisfiable",
            "'DoNotSchedule' or 'ScheduleAnyway'",
        ),
        (
            {"topology_spread": [{"topology_key": HOST}, {"topology_key": HOST, "max_skew": 2}]},
            "placement.topology_spread",
            f"topology_key '{HOST}' with when_unsatisfiable 'ScheduleAnyway' is given twice",
        ),
        (
            {
                "pod_affinity": [{"topology_key": HOST, "required": True}],
                "pod_anti_affinity": [{"topology_key": HOST, "required": True}],
            },
            "placement.pod_anti_affinity",
            "no second pod could ever be placed",
        ),
        (
            {"node_selector": {"-disk": "ssd"}},
            "placement.node_selector.-disk.[key]",
            "'-disk' is not a valid label key",
        ),
        (
            {"spread": []},
            "placement.spread",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_bad_placement_is_refused_naming_the_field_and_the_rule(placement, field, message):
    [(where, why)] = placement_errors(placement)
    assert where == field
    assert message in why


@pytest.mark.parametrize(
    "key",
    [HOST, "topology.kubernetes.io/zone", "example.com/rack_1.A", "zone", "a" * 63],
)
def test_kubernetes_label_keys_are_accepted_as_topology_keys(key):
    spread = TopologySpread.model_validate({"topology_key": key})
    assert spread.topology_key == key


@pytest.mark.parametrize("key", ["a" * 64, "Example.com/zone", "x/", "/zone", "a/b/c"])
def test_malformed_label_keys_are_refused(key):
    with pytest.raises(ValidationError, match="is not a valid label key"):
        TopologySpread.model_validate({"topology_key": key})


def test_a_deployment_records_its_placement_and_a_release_workload_none():
    spec = CreateDeployment.model_validate(
        {**DEPLOYMENT, "placement": {"pod_anti_affinity": [{"topology_key": HOST}]}}
    )
    now = datetime.now(UTC)
    common = {
        **DEPLOYMENT,
        "id": "d-1",
        "created_at": now,
        "last_updated": now,
        "revision": 1,
        "status": "pending",
        "replicas": 1,
    }
    recorded = Deployment.model_validate({**common, "placement": spec.placement.model_dump()})
    assert recorded.snapshot()["placement"]["pod_anti_affinity"] == [
        {"topology_key": HOST, "match_labels": None, "required": False, "weight": 100}
    ]
    assert Deployment.model_validate({**common, "placement": None}).placement is None
