"""PATCH semantics of the simulated API server, as kubectl and the Python client use them."""

from __future__ import annotations

import pytest
from slipway_simcluster.errors import ApiError
from slipway_simcluster.patch import json_patch, merge_patch, strategic_merge_patch
from slipway_simcluster.schema import Types

DEPLOYMENT = {
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [
                    {"name": "web", "image": "web:1.0.0", "ports": [{"containerPort": 80}]},
                    {"name": "sidecar", "image": "proxy:2"},
                ]
            }
        },
    },
}


def test_merge_patch_sets_fields_and_null_deletes() -> None:
    patched = merge_patch(
        DEPLOYMENT, {"spec": {"replicas": 5}, "metadata": {"labels": {"tier": None}}}
    )

    assert patched["spec"]["replicas"] == 5
    assert patched["metadata"]["labels"] == {"app": "web"}
    assert DEPLOYMENT["spec"]["replicas"] == 3, "the original is left untouched"


def test_merge_patch_replaces_lists_whole() -> None:
    patched = merge_patch(
        DEPLOYMENT,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2.0.0"}]}}}},
    )

    assert patched["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "web:2.0.0"}
    ]


def test_strategic_merge_patch_merges_containers_by_name() -> None:
    # What `kubectl set image deployment/web web=web:2.0.0` sends.
    patched = strategic_merge_patch(
        DEPLOYMENT,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "web:2.0.0"}]}}}},
    )

    containers = patched["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "sidecar"]
    assert containers[0] == {"name": "web", "image": "web:2.0.0", "ports": [{"containerPort": 80}]}


def test_strategic_merge_patch_directives_delete_and_replace() -> None:
    deleted = strategic_merge_patch(
        DEPLOYMENT,
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}},
    )
    replaced = strategic_merge_patch(
        DEPLOYMENT, {"metadata": {"labels": {"$patch": "replace", "app": "api"}}}
    )

    assert [c["name"] for c in deleted["spec"]["template"]["spec"]["containers"]] == ["web"]
    assert replaced["metadata"]["labels"] == {"app": "api"}


def test_json_patch_operations() -> None:
    patched = json_patch(
        DEPLOYMENT,
        [
            {"op": "test", "path": "/spec/replicas", "value": 3},
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "add", "path": "/metadata/labels/track", "value": "stable"},
            {"op": "remove", "path": "/spec/template/spec/containers/1"},
        ],
    )

    assert patched["spec"]["replicas"] == 4
    assert patched["metadata"]["labels"]["track"] == "stable"
    assert len(patched["spec"]["template"]["spec"]["containers"]) == 1


def test_json_patch_failed_test_is_invalid() -> None:
    with pytest.raises(ApiError) as raised:
        json_patch(DEPLOYMENT, [{"op": "test", "path": "/spec/replicas", "value": 99}])

    assert raised.value.code == 422


DEPLOYMENT_SCHEMA = Types().of_kind("apps/v1", "Deployment")


def test_strategic_merge_patch_follows_the_schema_retain_keys() -> None:
    # What helm sends when an upgrade moves a Deployment from RollingUpdate to Recreate.
    current = {
        "spec": {
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "replicas": 2,
        }
    }

    patched = strategic_merge_patch(
        current,
        {
            "spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}
            }
        },
        DEPLOYMENT_SCHEMA,
    )

    assert patched["spec"] == {"strategy": {"type": "Recreate"}, "replicas": 2}


def test_strategic_merge_patch_removes_a_keyed_element_and_orders_the_rest() -> None:
    # What helm sends when an upgrade drops an environment variable.
    current = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "env": [
                                {"name": "A", "value": "1"},
                                {"name": "FOO", "value": "bar"},
                                {"name": "B", "value": "2"},
                            ],
                        }
                    ]
                }
            }
        }
    }
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [
                        {
                            "$setElementOrder/env": [{"name": "B"}, {"name": "A"}],
                            "env": [{"$patch": "delete", "name": "FOO"}],
                            "name": "web",
                        }
                    ],
                }
            }
        }
    }

    patched = strategic_merge_patch(current, patch, DEPLOYMENT_SCHEMA)

    env = patched["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]


def test_strategic_merge_patch_merges_container_ports_by_number_and_unions_finalizers() -> None:
    current = {
        "metadata": {"finalizers": ["a"]},
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80}]}]}
            }
        },
    }
    patch = {
        "metadata": {"finalizers": ["b"]},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "ports": [{"containerPort": 80, "name": "http"}]}
                    ]
                }
            }
        },
    }

    patched = strategic_merge_patch(current, patch, DEPLOYMENT_SCHEMA)

    assert patched["metadata"]["finalizers"] == ["a", "b"]
    assert patched["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "name": "http"}
    ]


def test_strategic_merge_patch_replaces_lists_the_schema_calls_atomic() -> None:
    current = {"spec": {"template": {"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}}}

    patched = strategic_merge_patch(
        current,
        {"spec": {"template": {"spec": {"tolerations": [{"key": "c"}]}}}},
        DEPLOYMENT_SCHEMA,
    )

    assert patched["spec"]["template"]["spec"]["tolerations"] == [{"key": "c"}]
