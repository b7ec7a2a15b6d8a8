"""Every built-in kind charts use, stored generically: discovery, OpenAPI, status and
generation rules, selectors, resourceVersion and field validation."""

from __future__ import annotations

from typing import Any

import pytest
from slipway_simcluster.errors import ApiError
from slipway_simcluster.meta import FieldSelector, LabelSelector
from slipway_simcluster.openapi import OpenApi, document_path
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import (
    BUILTIN,
    HORIZONTAL_POD_AUTOSCALERS,
    NAMESPACES,
    POD_DISRUPTION_BUDGETS,
    SECRETS,
    Catalog,
    wants_aggregated_discovery,
)
from slipway_simcluster.schema import Types
from slipway_simcluster.store import Store
from slipway_simcluster.validation import check_fields

# What charts commonly create, by group version.
CHART_KINDS = {
    "v1": {
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "PersistentVolumeClaim",
        "LimitRange",
        "ResourceQuota",
        "Service",
    },
    "apps/v1": {"Deployment", "StatefulSet", "DaemonSet"},
    "batch/v1": {"Job", "CronJob"},
    "policy/v1": {"PodDisruptionBudget"},
    "autoscaling/v2": {"HorizontalPodAutoscaler"},
    "networking.k8s.io/v1": {"Ingress", "IngressClass", "NetworkPolicy"},
    "rbac.authorization.k8s.io/v1": {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"},
    "apiextensions.k8s.io/v1": {"CustomResourceDefinition"},
}


@pytest.fixture
def registry() -> Registry:
    registry = Registry(Store())
    registry.create(NAMESPACES, None, {"metadata": {"name": "shop"}})
    return registry


def pdb(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}, **spec},
    }


@pytest.mark.parametrize("group_version", sorted(CHART_KINDS))
def test_discovery_lists_the_kinds_charts_use(group_version: str) -> None:
    listing = BUILTIN.api_resource_list(group_version)

    assert listing is not None
    assert CHART_KINDS[group_version] <= {r["kind"] for r in listing["resources"]}


def test_aggregated_discovery_describes_resources_and_subresources() -> None:
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"

    groups = BUILTIN.aggregated_discovery(core=False)["items"]
    policy = next(g for g in groups if g["metadata"]["name"] == "policy")
    (budgets,) = policy["versions"][0]["resources"]

    assert wants_aggregated_discovery(accept)
    assert not wants_aggregated_discovery("application/json, */*")
    assert budgets["resource"] == "poddisruptionbudgets"
    assert budgets["shortNames"] == ["pdb"]
    assert budgets["scope"] == "Namespaced"
    assert budgets["subresources"][0]["subresource"] == "status"


def test_openapi_v3_describes_every_group_version_with_field_validation() -> None:
    openapi = OpenApi(Catalog(), Types())

    root = openapi.v3_root()["paths"]
    document = openapi.v3_document("apis/policy/v1")

    assert {document_path(gv) for gv in CHART_KINDS} <= set(root)
    assert document is not None
    patch = document["paths"]["/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}"][
        "patch"
    ]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    schema = document["components"]["schemas"]["io.k8s.api.policy.v1.PodDisruptionBudget"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "policy", "kind": "PodDisruptionBudget", "version": "v1"}
    ]
    spec = document["components"]["schemas"]["io.k8s.api.policy.v1.PodDisruptionBudgetSpec"]
    assert spec["properties"]["maxUnavailable"] == {
        "allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}],
        "description": spec["properties"]["maxUnavailable"]["description"],
    }


def test_openapi_v2_is_one_swagger_document() -> None:
    document = OpenApi(Catalog(), Types()).v2()

    assert document["swagger"] == "2.0"
    assert "io.k8s.api.apps.v1.StatefulSet" in document["definitions"]
    assert "/apis/batch/v1/namespaces/{namespace}/jobs/{name}" in document["paths"]


def test_a_generic_kind_keeps_its_status_and_counts_spec_changes(registry: Registry) -> None:
    created = registry.create(POD_DISRUPTION_BUDGETS, "shop", {**pdb(), "status": {"x": 1}})
    registry.update(
        POD_DISRUPTION_BUDGETS,
        "shop",
        "web",
        {**created, "status": {"disruptionsAllowed": 1}},
        subresource="status",
    )
    relabelled = registry.update(
        POD_DISRUPTION_BUDGETS,
        "shop",
        "web",
        {
            **registry.store.get(POD_DISRUPTION_BUDGETS, "shop", "web"),
            "metadata": {"name": "web", "labels": {"a": "b"}},
            "status": {},
        },
    )
    respecced = registry.update(
        POD_DISRUPTION_BUDGETS, "shop", "web", {**relabelled, **pdb(maxUnavailable=2)}
    )

    assert created["status"] == {} and created["metadata"]["generation"] == 1
    assert relabelled["status"] == {"disruptionsAllowed": 1}, "a main-resource write keeps status"
    assert relabelled["metadata"]["generation"] == 1, "metadata changes are not generations"
    assert respecced["metadata"]["generation"] == 2
    assert int(respecced["metadata"]["resourceVersion"]) > int(
        relabelled["metadata"]["resourceVersion"]
    )


def test_rbac_names_may_hold_colons(registry: Registry) -> None:
    role = BUILTIN.find("rbac.authorization.k8s.io", "v1", "clusterroles")
    assert role is not None

    created = registry.create(role, None, {"metadata": {"name": "system:shop:reader"}, "rules": []})

    assert created["metadata"]["name"] == "system:shop:reader"


def test_helm_release_selectors_pick_one_release() -> None:
    store = Store()
    registry = Registry(store)
    registry.create(NAMESPACES, None, {"metadata": {"name": "shop"}})
    for name, version, status in (
        ("web", 1, "superseded"),
        ("web", 2, "deployed"),
        ("db", 1, "deployed"),
    ):
        registry.create(
            SECRETS,
            "shop",
            {
                "metadata": {
                    "name": f"sh.helm.release.v1.{name}.v{version}",
                    "labels": {
                        "owner": "helm",
                        "name": name,
                        "status": status,
                        "version": str(version),
                    },
                },
                "type": "helm.sh/release.v1",
            },
        )
    labels = LabelSelector.parse("owner=helm,name=web,status=deployed")
    fields = FieldSelector.parse("type=helm.sh/release.v1,metadata.namespace=shop")

    found = [
        s["metadata"]["name"]
        for s in store.objects(SECRETS, "shop")
        if labels.matches(s["metadata"].get("labels")) and fields.matches(s)
    ]

    assert found == ["sh.helm.release.v1.web.v2"]


def test_unknown_fields_fail_strict_validation_and_warn_otherwise() -> None:
    rt, schema = (
        HORIZONTAL_POD_AUTOSCALERS,
        Types().of_kind("autoscaling/v2", "HorizontalPodAutoscaler"),
    )
    body = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "labels": {"any": "label"}},
        "spec": {
            "maxReplicas": 3,
            "maxReplica": 4,
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
        },
    }

    with pytest.raises(ApiError) as raised:
        check_fields(rt, schema, body, "Strict")
    warnings = check_fields(rt, schema, body, None)

    assert raised.value.code == 400
    assert raised.value.message == (
        'HorizontalPodAutoscaler in version "v2" cannot be handled as a HorizontalPodAutoscaler: '
        'strict decoding error: unknown field "spec.maxReplica"'
    )
    assert warnings == ['unknown field "spec.maxReplica"']
    assert check_fields(rt, schema, body, "Ignore") == []


def test_unknown_fields_are_not_stored(registry: Registry) -> None:
    created = registry.create(POD_DISRUPTION_BUDGETS, "shop", pdb(maxUnavailabel=3))

    assert "maxUnavailabel" not in created["spec"]
