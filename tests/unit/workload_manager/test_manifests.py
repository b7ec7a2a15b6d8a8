"""The objects Slipway applies: secure defaults, stable labels, and valid by Slipway's own rules."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from slipway_chart_validator.adapters.schema import validate_manifests
from slipway_chart_validator.domain.manifests import Manifest
from slipway_chart_validator.domain.policy import check_policy
from slipway_contracts.entities import (
    Deployment,
    DeploymentStatus,
    ProbeSettings,
    ResourceAmounts,
    Resources,
    Service,
    ServiceStatus,
)
from slipway_workload_manager.domain.manifests import (
    ANNOTATION_REVISION,
    deployment_manifest,
    deployment_objects,
    lacks_pod_security,
    namespace_manifest,
    network_policy_manifest,
    objects_of,
    pull_secret_manifest,
    service_account_manifest,
    service_manifest,
)
from slipway_workload_manager.domain.ports import (
    LABEL_ID,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    RegistryPullLogin,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
IMAGE = "shop/web:1.4.2"


def deployment(**changes: Any) -> Deployment:
    fields: dict[str, Any] = {
        "id": "0b9f6c1e-3c8e-4a4e-9d51-6d3c3f5a7e10",
        "created_at": NOW,
        "last_updated": NOW,
        "revision": 3,
        "name": "web",
        "namespace": "shop",
        "cluster_id": "c-1",
        "image": IMAGE,
        "replicas": 3,
        "container_port": 8080,
        "status": DeploymentStatus.PENDING,
    }
    return Deployment(**(fields | changes))


def service(**changes: Any) -> Service:
    fields: dict[str, Any] = {
        "id": "5e1d2a77-7f0e-4b8e-a1a6-2f4b7c9d0e21",
        "created_at": NOW,
        "last_updated": NOW,
        "revision": 1,
        "name": "web",
        "namespace": "shop",
        "cluster_id": "c-1",
        "deployment_id": deployment().id,
        "port": 80,
        "target_port": 8080,
        "status": ServiceStatus.PENDING,
    }
    return Service(**(fields | changes))


def container_of(manifest: dict[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_the_container_runs_unprivileged_as_a_non_root_user() -> None:
    manifest = deployment_manifest(deployment(), IMAGE)
    pod = manifest["spec"]["template"]["spec"]
    context = container_of(manifest)["securityContext"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0 and pod["securityContext"]["runAsGroup"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 65532
    assert context["allowPrivilegeEscalation"] is False
    assert context["privileged"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_a_read_only_root_still_gets_a_writable_tmp() -> None:
    manifest = deployment_manifest(deployment(), IMAGE)
    mounts = container_of(manifest)["volumeMounts"]
    volumes = {v["name"]: v for v in manifest["spec"]["template"]["spec"]["volumes"]}

    assert mounts == [{"name": "tmp", "mountPath": "/tmp"}]
    assert "emptyDir" in volumes["tmp"]


def test_resources_come_from_the_entity() -> None:
    entity = deployment(
        resources=Resources(
            requests=ResourceAmounts(cpu="100m", memory="64Mi"),
            limits=ResourceAmounts(cpu="1", memory="256Mi"),
        )
    )

    resources = container_of(deployment_manifest(entity, IMAGE))["resources"]

    assert resources == {
        "requests": {"cpu": "100m", "memory": "64Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }


def test_default_resources_have_requests_and_limits() -> None:
    resources = container_of(deployment_manifest(deployment(), IMAGE))["resources"]

    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_probes_check_the_container_port_over_tcp_without_a_path() -> None:
    container = container_of(deployment_manifest(deployment(container_port=9000), IMAGE))

    for probe in (container["livenessProbe"], container["readinessProbe"]):
        assert probe["tcpSocket"] == {"port": 9000}
        assert "httpGet" not in probe
        assert probe["periodSeconds"] == 10 and probe["failureThreshold"] == 3
    assert container["ports"][0]["containerPort"] == 9000


def test_probes_use_http_get_on_the_path_with_the_entity_settings() -> None:
    entity = deployment(
        probe=ProbeSettings(
            path="/healthz", initial_delay_seconds=5, period_seconds=7, failure_threshold=4
        )
    )

    container = container_of(deployment_manifest(entity, IMAGE))

    for probe in (container["livenessProbe"], container["readinessProbe"]):
        assert probe["httpGet"]["path"] == "/healthz" and probe["httpGet"]["port"] == 8080
        assert probe["initialDelaySeconds"] == 5
        assert probe["periodSeconds"] == 7
        assert probe["failureThreshold"] == 4
        assert "tcpSocket" not in probe


def test_rollout_settings_image_and_env() -> None:
    entity = deployment(progress_deadline_seconds=45, env={"ZED": "1", "ALPHA": "x"}, replicas=5)

    manifest = deployment_manifest(entity, "registry.local:5000/shop/web:2.0.0")
    spec = manifest["spec"]
    container = container_of(manifest)

    assert spec["replicas"] == 5
    assert spec["progressDeadlineSeconds"] == 45
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert container["image"] == "registry.local:5000/shop/web:2.0.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["env"] == [{"name": "ALPHA", "value": "x"}, {"name": "ZED", "value": "1"}]


def test_every_object_and_the_pods_carry_the_slipway_labels() -> None:
    entity = deployment()
    manifest = deployment_manifest(entity, IMAGE)
    expected = {LABEL_ID: entity.id, LABEL_MANAGED_BY: "slipway", LABEL_NAME: "web"}

    assert manifest["metadata"]["labels"] == expected
    assert manifest["metadata"]["namespace"] == "shop"
    assert manifest["spec"]["template"]["metadata"]["labels"] == expected
    assert manifest["spec"]["selector"] == {"matchLabels": {LABEL_ID: entity.id}}
    assert manifest["metadata"]["annotations"][ANNOTATION_REVISION] == "3"


def test_a_new_revision_does_not_touch_the_pod_template() -> None:
    # A scale re-applies with a newer revision: the pods must not be replaced for it.
    first = deployment_manifest(deployment(revision=3), IMAGE)
    scaled = deployment_manifest(deployment(revision=4, replicas=5), IMAGE)

    assert first["spec"]["template"] == scaled["spec"]["template"]
    assert scaled["metadata"]["annotations"][ANNOTATION_REVISION] == "4"


def test_the_same_entity_gives_the_same_manifest() -> None:
    entity = deployment(env={"B": "2", "A": "1"})

    first = json.dumps(deployment_manifest(entity, IMAGE))
    again = json.dumps(deployment_manifest(deployment(env={"A": "1", "B": "2"}), IMAGE))

    assert first == again
    assert json.dumps(service_manifest(service(), entity)) == json.dumps(
        service_manifest(service(), entity)
    )


@pytest.mark.parametrize("kind", ["ClusterIP", "NodePort", "LoadBalancer"])
def test_the_service_selects_the_deployments_pods(kind: str) -> None:
    target = deployment()
    entity = service(type=kind, protocol="UDP")

    manifest = service_manifest(entity, target)
    pod_labels = deployment_manifest(target, IMAGE)["spec"]["template"]["metadata"]["labels"]

    assert manifest["spec"]["type"] == kind
    assert manifest["spec"]["selector"] == {LABEL_ID: target.id}
    assert all(pod_labels[key] == value for key, value in manifest["spec"]["selector"].items())
    assert manifest["spec"]["ports"] == [
        {"name": "app", "port": 80, "targetPort": 8080, "protocol": "UDP"}
    ]
    assert manifest["metadata"]["labels"][LABEL_ID] == entity.id
    assert manifest["metadata"]["labels"][LABEL_MANAGED_BY] == "slipway"
    assert manifest["metadata"]["namespace"] == "shop"


def test_a_namespace_slipway_creates_enforces_the_restricted_pod_security_standard() -> None:
    assert namespace_manifest("shop") == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "shop",
            "labels": {
                LABEL_MANAGED_BY: "slipway",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/warn-version": "latest",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/audit-version": "latest",
            },
        },
    }


@pytest.mark.parametrize(
    ("found", "relabelled"),
    [
        ({LABEL_MANAGED_BY: "slipway"}, True),  # made by Slipway before it labelled them
        ({LABEL_MANAGED_BY: "slipway", "pod-security.kubernetes.io/enforce": "baseline"}, False),
        (namespace_manifest("shop")["metadata"]["labels"], False),
        ({"kubernetes.io/metadata.name": "shop"}, False),  # someone else's
        (None, False),
    ],
    ids=["slipways-unlabelled", "slipways-set-by-hand", "slipways-labelled", "foreign", "bare"],
)
def test_only_slipways_own_unlabelled_namespaces_are_relabelled(
    found: dict[str, str] | None, relabelled: bool
) -> None:
    live = {"metadata": {"name": "shop", "labels": found}}

    assert lacks_pod_security(live) is relabelled


def test_the_pods_run_under_their_own_service_account_without_a_token() -> None:
    entity = deployment()

    account = service_account_manifest(entity)
    pod = deployment_manifest(entity, IMAGE)["spec"]["template"]["spec"]

    assert account == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "web-sa",
            "namespace": "shop",
            "labels": {LABEL_ID: entity.id, LABEL_MANAGED_BY: "slipway", LABEL_NAME: "web"},
        },
        "automountServiceAccountToken": False,
    }
    assert pod["serviceAccountName"] == "web-sa"
    assert pod["automountServiceAccountToken"] is False


def test_the_network_policy_admits_only_the_container_port_from_the_namespace() -> None:
    entity = deployment(container_port=9000)

    policy = network_policy_manifest(entity)
    pod_labels = deployment_manifest(entity, IMAGE)["spec"]["template"]["metadata"]["labels"]

    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["metadata"]["name"] == "web" and policy["metadata"]["namespace"] == "shop"
    assert policy["metadata"]["labels"][LABEL_ID] == entity.id
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector == {LABEL_ID: entity.id}
    assert selector.items() <= pod_labels.items()
    # Ingress only: the pods' own connections out are not the policy's business.
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [
        {
            "from": [{"podSelector": {}}],
            "ports": [{"protocol": "TCP", "port": 9000}, {"protocol": "UDP", "port": 9000}],
        }
    ]


def test_the_network_policy_follows_the_container_port() -> None:
    before = network_policy_manifest(deployment(container_port=8080))
    after = network_policy_manifest(deployment(container_port=9090, revision=4))

    ports = [rule["ports"] for rule in after["spec"]["ingress"]]
    assert ports == [[{"protocol": "TCP", "port": 9090}, {"protocol": "UDP", "port": 9090}]]
    assert before["spec"]["podSelector"] == after["spec"]["podSelector"]


def test_a_deployment_is_applied_after_its_account_and_policy_and_deleted_with_them() -> None:
    entity = deployment()

    objects = deployment_objects(entity, IMAGE)

    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ServiceAccount", "web-sa"),
        ("NetworkPolicy", "web"),
        ("Deployment", "web"),
    ]
    assert objects[-1] == deployment_manifest(entity, IMAGE)
    assert all(o["metadata"]["namespace"] == "shop" for o in objects)
    assert objects_of("Deployment", "web") == [
        ("Deployment", "web"),
        ("NetworkPolicy", "web"),
        ("ServiceAccount", "web-sa"),
    ]
    assert objects_of("Service", "web") == [("Service", "web")]


def test_a_release_workload_without_a_port_gets_no_policy() -> None:
    # helm renders a release's objects; Slipway never makes a policy without a port.
    with pytest.raises(ValueError, match="has no container port"):
        network_policy_manifest(deployment(container_port=None))


# --- placement -------------------------------------------------------------------------

HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
PLACED = {
    "node_selector": {"disktype": "ssd"},
    "pod_affinity": [{"topology_key": ZONE, "match_labels": {"app": "cache"}, "weight": 30}],
    "pod_anti_affinity": [
        {"topology_key": HOST, "required": True},
        {"topology_key": ZONE},
    ],
    "topology_spread": [
        {"topology_key": ZONE, "max_skew": 2, "when_unsatisfiable": "DoNotSchedule"}
    ],
}


def pod_spec(entity: Deployment) -> dict[str, Any]:
    return dict(deployment_manifest(entity, IMAGE)["spec"]["template"]["spec"])


def test_by_default_the_replicas_are_spread_over_the_nodes_without_affinity() -> None:
    entity = deployment()
    pod = pod_spec(entity)

    # ScheduleAnyway: a preference, so a single-node cluster still runs every replica.
    assert pod["topologySpreadConstraints"] == [
        {
            "maxSkew": 1,
            "topologyKey": HOST,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {LABEL_ID: entity.id}},
        }
    ]
    assert "affinity" not in pod and "nodeSelector" not in pod


def test_anti_affinity_renders_required_terms_and_weighted_preferences_on_its_own_pods() -> None:
    entity = deployment(placement=PLACED)
    own = {"matchLabels": {LABEL_ID: entity.id}}

    anti = pod_spec(entity)["affinity"]["podAntiAffinity"]

    assert anti == {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": own, "topologyKey": HOST}
        ],
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": own, "topologyKey": ZONE}}
        ],
    }


def test_affinity_to_other_pods_spread_and_node_selector_are_rendered_as_given() -> None:
    entity = deployment(placement=PLACED)
    pod = pod_spec(entity)

    assert pod["affinity"]["podAffinity"] == {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 30,
                "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"app": "cache"}},
                    "topologyKey": ZONE,
                },
            }
        ]
    }
    assert pod["topologySpreadConstraints"] == [
        {
            "maxSkew": 2,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {LABEL_ID: entity.id}},
        }
    ]
    assert pod["nodeSelector"] == {"disktype": "ssd"}


def test_no_spread_and_no_terms_render_no_placement_fields() -> None:
    # Absent, not empty: server-side apply then removes what an earlier rollout set.
    pod = pod_spec(deployment(placement={"topology_spread": []}))

    assert not {"affinity", "topologySpreadConstraints", "nodeSelector"} & set(pod)


def rendered(entity: Deployment, image: str = IMAGE) -> list[Manifest]:
    return [
        *(
            Manifest(body, f"templates/{body['kind'].lower()}.yaml")
            for body in deployment_objects(entity, image)
        ),
        Manifest(service_manifest(service(), entity), "templates/service.yaml"),
    ]


@pytest.mark.parametrize(
    "entity",
    [
        deployment(),
        deployment(probe=ProbeSettings(path="/healthz"), env={"MODE": "prod"}, replicas=1),
        deployment(placement=PLACED),
    ],
    ids=["tcp-probe", "http-probe", "placed"],
)
def test_slipway_objects_pass_the_chart_validators_policy(entity: Deployment) -> None:
    assert check_policy(rendered(entity)) == []


def test_slipway_objects_match_the_kubernetes_schema() -> None:
    entity = deployment(
        probe=ProbeSettings(path="/healthz"), env={"MODE": "prod"}, placement=PLACED
    )
    objects = [*rendered(entity), Manifest(namespace_manifest("shop"), "templates/ns.yaml")]

    assert validate_manifests(objects, "1.32") == []


def test_the_policy_would_catch_a_latest_tag() -> None:
    # The check is real: the same manifests with an unpinned image are refused.
    findings = check_policy(rendered(deployment(), "shop/web:latest"))

    assert [finding.rule for finding in findings] == ["policy.image-tag"]


# --- images pulled with a registry login ------------------------------------------------

IMAGE_ID = "7c2d9e4a-1b3f-4c5d-8e6f-0a1b2c3d4e5f"
LOGIN = RegistryPullLogin("127.0.0.1:5001", "ci", "pw-for-pulls")


def test_only_an_image_with_a_registry_login_gets_a_pull_secret_named_in_the_pods() -> None:
    plain = deployment_objects(deployment(image_id=IMAGE_ID), IMAGE)
    with_login = deployment_objects(deployment(image_id=IMAGE_ID), IMAGE, LOGIN)

    assert [o["kind"] for o in plain] == ["ServiceAccount", "NetworkPolicy", "Deployment"]
    assert "imagePullSecrets" not in plain[-1]["spec"]["template"]["spec"]
    assert [o["kind"] for o in with_login] == [
        "Secret",
        "ServiceAccount",
        "NetworkPolicy",
        "Deployment",
    ]
    pod = with_login[-1]["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "slipway-pull-7c2d9e4a"}]
    assert with_login[0]["metadata"]["name"] == "slipway-pull-7c2d9e4a"
    assert with_login[0]["metadata"]["namespace"] == "shop"


def test_the_pull_secret_is_a_docker_config_for_the_registry_labelled_as_slipways() -> None:
    secret = pull_secret_manifest("shop", IMAGE_ID, LOGIN)

    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["metadata"]["labels"][LABEL_MANAGED_BY] == "slipway"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    entry = config["auths"]["127.0.0.1:5001"]
    assert (entry["username"], entry["password"]) == ("ci", "pw-for-pulls")
    assert base64.b64decode(entry["auth"]) == b"ci:pw-for-pulls"
    assert "pw-for-pulls" not in repr(LOGIN)


def test_a_pull_secret_does_not_touch_the_pod_template_of_a_redeploy() -> None:
    first = deployment_objects(deployment(image_id=IMAGE_ID), IMAGE, LOGIN)[-1]
    again = deployment_objects(deployment(image_id=IMAGE_ID, revision=9), IMAGE, LOGIN)[-1]

    assert first["spec"]["template"] == again["spec"]["template"]
