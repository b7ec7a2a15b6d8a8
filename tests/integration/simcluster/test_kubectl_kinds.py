"""The real kubectl on the kinds charts use: imperative commands (protobuf bodies),
server-side apply, strict validation, StatefulSets, Jobs and custom resources."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import image_archive
from tests.integration.simcluster.conftest import RunningCluster, kubectl, needs_kubectl

pytestmark = needs_kubectl
BUSYBOX = "busybox:1"


@pytest.fixture(scope="module", autouse=True)
def busybox(cluster: RunningCluster) -> None:
    asyncio.run(cluster.simulated.load_images(image_archive(BUSYBOX)))


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def manifest(*documents: dict[str, Any]) -> str:
    return yaml.safe_dump_all(documents)


def test_kubectl_api_resources_lists_the_built_in_kinds(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    listed = ok(kubectl(cluster, tmp_path, "api-resources", "-o", "name"))

    assert {
        "poddisruptionbudgets.policy",
        "statefulsets.apps",
        "jobs.batch",
        "cronjobs.batch",
        "horizontalpodautoscalers.autoscaling",
        "ingresses.networking.k8s.io",
        "networkpolicies.networking.k8s.io",
        "roles.rbac.authorization.k8s.io",
        "persistentvolumeclaims",
        "limitranges",
        "resourcequotas",
    } <= set(listed.split())


def test_imperative_commands_create_what_they_say(cluster: RunningCluster, tmp_path: Path) -> None:
    namespace = cluster.namespace()

    created = kubectl(
        cluster, tmp_path, "create", "deployment", "x", f"--image={BUSYBOX}", "-n", namespace
    )
    secret = kubectl(
        cluster, tmp_path, "create", "secret", "generic", "s", "--from-literal=a=b", "-n", namespace
    )
    config = kubectl(
        cluster, tmp_path, "create", "configmap", "c", "--from-literal=a=b", "-n", namespace
    )
    rollout = kubectl(
        cluster, tmp_path, "rollout", "status", "deployment/x", "-n", namespace, "--timeout=60s"
    )
    shown = kubectl(
        cluster, tmp_path, "get", "secret", "s", "-n", namespace, "-o", "jsonpath={.data.a}"
    )

    assert ok(created).strip() == "deployment.apps/x created"
    assert ok(secret).strip() == "secret/s created"
    assert ok(config).strip() == "configmap/c created"
    assert "successfully rolled out" in ok(rollout)
    assert ok(shown) == "Yg=="


def test_server_side_apply_removes_what_the_manifest_drops(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    namespace = cluster.namespace()
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "labels": {"app": "shop", "tier": "web"}},
        "data": {"a": "1", "b": "2"},
    }
    first = kubectl(
        cluster,
        tmp_path,
        "apply",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=manifest(config),
    )
    config["metadata"]["labels"] = {"app": "shop"}
    config["data"] = {"a": "1"}

    second = kubectl(
        cluster,
        tmp_path,
        "apply",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=manifest(config),
    )
    shown = json.loads(
        ok(kubectl(cluster, tmp_path, "get", "cm", "settings", "-n", namespace, "-o", "json"))
    )

    assert "serverside-applied" in ok(first) and "serverside-applied" in ok(second)
    assert shown["metadata"]["labels"] == {"app": "shop"}
    assert shown["data"] == {"a": "1"}


def test_server_side_apply_conflicts_name_the_owner(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    namespace = cluster.namespace()
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "1"},
    }
    ok(
        kubectl(
            cluster,
            tmp_path,
            "apply",
            "--server-side",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=manifest(config),
        )
    )
    config["data"] = {"a": "2"}

    refused = kubectl(
        cluster, tmp_path, "apply", "--server-side", "--field-manager=other", "-n", namespace, "-f", "-",
        stdin=manifest(config),
    )  # fmt: skip
    forced = kubectl(
        cluster, tmp_path, "apply", "--server-side", "--field-manager=other", "--force-conflicts",
        "-n", namespace, "-f", "-", stdin=manifest(config),
    )  # fmt: skip

    assert refused.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.a' in refused.stderr
    assert "serverside-applied" in ok(forced)


def test_strict_validation_refuses_unknown_fields(cluster: RunningCluster, tmp_path: Path) -> None:
    namespace = cluster.namespace()
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }
    typo = {**budget, "spec": {**budget["spec"], "maxUnavailabel": 2}}

    valid = kubectl(
        cluster,
        tmp_path,
        "apply",
        "--validate=strict",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=manifest(budget),
    )
    refused = kubectl(
        cluster,
        tmp_path,
        "apply",
        "--validate=strict",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=manifest(typo),
    )

    assert ok(valid).strip() == "poddisruptionbudget.policy/web created"
    assert refused.returncode != 0
    assert 'strict decoding error: unknown field "spec.maxUnavailabel"' in refused.stderr


def test_statefulset_rolls_out_with_bound_claims(cluster: RunningCluster, tmp_path: Path) -> None:
    namespace = cluster.namespace()
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db",
            "replicas": 2,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": BUSYBOX}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    ok(kubectl(cluster, tmp_path, "apply", "-n", namespace, "-f", "-", stdin=manifest(statefulset)))

    rollout = kubectl(
        cluster, tmp_path, "rollout", "status", "sts/db", "-n", namespace, "--timeout=60s"
    )
    table = ok(kubectl(cluster, tmp_path, "get", "sts", "db", "-n", namespace, "--no-headers"))
    claims = ok(kubectl(cluster, tmp_path, "get", "pvc", "-n", namespace, "--no-headers"))

    assert "roll out complete" in ok(rollout)
    assert table.split()[1] == "2/2"
    assert [line.split()[:2] for line in claims.splitlines()] == [
        ["data-db-0", "Bound"],
        ["data-db-1", "Bound"],
    ]


def test_job_completes(cluster: RunningCluster, tmp_path: Path) -> None:
    namespace = cluster.namespace()
    ok(
        kubectl(
            cluster, tmp_path, "create", "job", "migrate", f"--image={BUSYBOX}", "-n", namespace
        )
    )

    waited = kubectl(
        cluster,
        tmp_path,
        "wait",
        "--for=condition=complete",
        "job/migrate",
        "-n",
        namespace,
        "--timeout=60s",
    )
    table = ok(kubectl(cluster, tmp_path, "get", "job", "migrate", "-n", namespace, "--no-headers"))

    assert "condition met" in ok(waited)
    assert table.split()[1:3] == ["Complete", "1/1"]


def test_custom_resources_of_a_definition(cluster: RunningCluster, tmp_path: Path) -> None:
    namespace = cluster.namespace()
    definition = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.shop.example.com"},
        "spec": {
            "group": "shop.example.com",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "kind": "Gadget", "shortNames": ["gd"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    gadget = {
        "apiVersion": "shop.example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g1"},
        "spec": {"size": 3},
    }
    ok(kubectl(cluster, tmp_path, "apply", "-f", "-", stdin=manifest(definition)))
    ok(
        kubectl(
            cluster, tmp_path, "wait", "--for=condition=established", "crd/gadgets.shop.example.com"
        )
    )

    applied = kubectl(
        cluster,
        tmp_path,
        "apply",
        "--validate=strict",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=manifest(gadget),
    )
    listed = ok(kubectl(cluster, tmp_path, "get", "gd", "-n", namespace, "-o", "name"))

    assert ok(applied).strip() == "gadget.shop.example.com/g1 created"
    assert listed.split() == ["gadget.shop.example.com/g1"]


def test_a_protobuf_body_it_cannot_read_says_to_apply_yaml(cluster: RunningCluster) -> None:
    # A Lease, as a typed client would send it: magic, then apiVersion and kind around the body.
    type_meta = b"\x0a\x16coordination.k8s.io/v1\x12\x05Lease"
    body = b"k8s\x00\x0a" + bytes([len(type_meta)]) + type_meta + b"\x12\x00"
    with cluster.http() as http:
        answer = http.post(
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            content=body,
            headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
        )

    assert answer.status_code == 415
    status = answer.json()
    assert status["reason"] == "UnsupportedMediaType"
    assert "Lease is not read from protobuf" in status["message"]
    assert "kubectl apply -f" in status["message"]
