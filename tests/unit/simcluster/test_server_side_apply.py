"""Server-side apply and managed fields: what a field manager applies it owns; what it
stops applying is removed; what others own or changed stays."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from slipway_simcluster.errors import ApiError
from slipway_simcluster.fields import from_fields_v1, to_fields_v1
from slipway_simcluster.registry import APPLY_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, Registry
from slipway_simcluster.resources import CONFIGMAPS, DEPLOYMENTS, NAMESPACES
from slipway_simcluster.store import Store


@pytest.fixture
def registry() -> Registry:
    registry = Registry(Store())
    registry.create(NAMESPACES, None, {"metadata": {"name": "shop"}})
    return registry


def web(
    *, labels: dict[str, str] | None = None, env: list[dict[str, str]] | None = None, **spec: Any
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "web",
        "image": "shop/web:1.0.0",
        "ports": [{"containerPort": 8080}],
    }
    if env is not None:
        container["env"] = env
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels or {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container]},
            },
            **spec,
        },
    }


def apply(
    registry: Registry, manifest: dict[str, Any], manager: str = "kubectl", force: bool = False
) -> dict[str, Any]:
    obj, _ = registry.patch(
        DEPLOYMENTS,
        "shop",
        manifest["metadata"]["name"],
        yaml.safe_dump(manifest).encode(),
        APPLY_PATCH,
        field_manager=manager,
        force=force,
    )
    return obj


def container(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]["containers"][0]


def managers(obj: dict[str, Any]) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    return {
        (entry["manager"], entry["operation"]): from_fields_v1(entry["fieldsV1"])
        for entry in obj["metadata"].get("managedFields") or []
    }


def test_apply_creates_and_owns_only_what_it_applied(registry: Registry) -> None:
    created, was_created = registry.patch(
        DEPLOYMENTS, "shop", "web", json.dumps(web()).encode(), APPLY_PATCH, field_manager="kubectl"
    )

    owned = managers(created)[("kubectl", "Apply")]
    assert was_created
    assert (
        "f:spec",
        "f:template",
        "f:spec",
        "f:containers",
        'k:{"name":"web"}',
        "f:image",
    ) in owned
    assert ("f:spec", "f:replicas") not in owned, "defaults belong to nobody"
    assert created["spec"]["replicas"] == 1


def test_dropping_a_field_from_the_manifest_removes_it(registry: Registry) -> None:
    apply(
        registry,
        web(
            labels={"app": "web", "tier": "front"},
            env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        ),
    )

    applied = apply(registry, web(labels={"app": "web"}, env=[{"name": "A", "value": "1"}]))

    assert applied["metadata"]["labels"] == {"app": "web"}
    assert container(applied)["env"] == [{"name": "A", "value": "1"}]


def test_dropping_every_element_removes_the_emptied_list(registry: Registry) -> None:
    apply(registry, web(env=[{"name": "A", "value": "1"}]))

    applied = apply(registry, web())

    assert "env" not in container(applied)


def test_fields_another_manager_owns_survive_a_drop(registry: Registry) -> None:
    apply(registry, web(labels={"app": "web", "tier": "front"}))
    apply(registry, web(labels={"tier": "front", "team": "shop"}), manager="other")

    applied = apply(registry, web(labels={"app": "web"}))

    assert applied["metadata"]["labels"] == {"app": "web", "tier": "front", "team": "shop"}


def test_changing_a_field_another_manager_owns_is_a_conflict(registry: Registry) -> None:
    apply(registry, web(replicas=2))

    with pytest.raises(ApiError) as raised:
        apply(registry, web(replicas=5), manager="autoscaler")

    assert raised.value.code == 409
    assert (
        raised.value.message
        == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    )
    assert raised.value.details is not None
    assert raised.value.details["causes"][0]["field"] == ".spec.replicas"


def test_force_takes_the_field_over(registry: Registry) -> None:
    apply(registry, web(replicas=2))

    forced = apply(registry, web(replicas=5), manager="autoscaler", force=True)
    dropped = apply(registry, web())

    assert forced["spec"]["replicas"] == 5
    assert ("f:spec", "f:replicas") not in managers(forced)[("kubectl", "Apply")]
    assert dropped["spec"]["replicas"] == 5, (
        "kubectl no longer owns replicas: dropping them changes nothing"
    )


def test_an_update_takes_ownership_of_what_it_changes(registry: Registry) -> None:
    apply(registry, web(replicas=2))
    registry.patch(
        DEPLOYMENTS,
        "shop",
        "web",
        b'{"spec": {"replicas": 4}}',
        MERGE_PATCH,
        field_manager="kubectl-scale",
    )

    applied = apply(registry, web())

    assert applied["spec"]["replicas"] == 4
    assert ("f:spec", "f:replicas") in managers(applied)[("kubectl-scale", "Update")]


def test_sharing_a_value_is_no_conflict(registry: Registry) -> None:
    apply(registry, web(replicas=2))

    shared = apply(registry, web(replicas=2), manager="other")

    assert ("f:spec", "f:replicas") in managers(shared)[("other", "Apply")]
    assert ("f:spec", "f:replicas") in managers(shared)[("kubectl", "Apply")]


def test_keyed_list_elements_match_with_defaulted_keys(registry: Registry) -> None:
    # The server defaults a port's protocol to TCP; applying the port again must not add one.
    apply(registry, web())

    applied = apply(registry, web())

    assert container(applied)["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]


def test_a_stale_resource_version_in_the_configuration_is_a_conflict(registry: Registry) -> None:
    created = apply(registry, web())
    apply(registry, web(replicas=3))
    stale = web()
    stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]

    with pytest.raises(ApiError) as raised:
        apply(registry, stale)

    assert raised.value.code == 409


def test_create_and_updates_record_their_manager(registry: Registry) -> None:
    registry.create(
        CONFIGMAPS,
        "shop",
        {"metadata": {"name": "settings"}, "data": {"a": "1"}},
        field_manager="helm",
    )
    patched, _ = registry.patch(
        CONFIGMAPS,
        "shop",
        "settings",
        b'{"data": {"b": "2"}}',
        STRATEGIC_MERGE_PATCH,
        field_manager="kubectl-edit",
    )

    owners = managers(patched)
    assert owners[("helm", "Update")] == {("f:data", "f:a")}
    assert owners[("kubectl-edit", "Update")] == {("f:data", "f:b")}


def test_writes_without_a_manager_leave_managed_fields_alone(registry: Registry) -> None:
    created = registry.create(
        CONFIGMAPS, "shop", {"metadata": {"name": "plain"}, "data": {"a": "1"}}
    )

    assert "managedFields" not in created["metadata"]


def test_fields_v1_round_trip() -> None:
    fields = {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}}},
    }

    paths = from_fields_v1(fields)

    assert ("f:metadata", "f:labels") in paths
    assert ("f:spec", "f:containers", 'k:{"name":"web"}', "f:image") in paths
    assert to_fields_v1(paths) == fields
