"""The Kubernetes objects Slipway applies for a Deployment and a Service entity (pure).

They follow the data model's security and performance rules, so that a Slipway-made
Deployment is one that Slipway's own chart validator calls valid: a non-root, read-only,
capability-less container under the RuntimeDefault seccomp profile, no service-account
token, resource requests and limits, liveness and readiness probes on the container port,
a zero-downtime rolling update bounded by the entity's progress deadline, and replicas
spread over the nodes unless the entity's `placement` says otherwise (`placement.py`).

A Deployment entity is three objects, applied together in this order (`deployment_objects`)
and deleted together (`objects_of`):
- its ServiceAccount `<name>-sa`, with `automountServiceAccountToken: false`: the pods'
  own identity, no API token in them (the pod spec says so too);
- its NetworkPolicy `<name>`, selecting its pods, ingress only (`network_policy_manifest`);
- the Deployment `<name>`, its pods running under that ServiceAccount.
A Deployment of an image pushed with registry credentials has a fourth, applied first: the
Secret `slipway-pull-<short image id>` (`kubernetes.io/dockerconfigjson`) its pods name in
`imagePullSecrets`. It is the image's, shared by every Deployment of that image in the
namespace, so deleting a Deployment leaves it (a later one of the image uses it again).
A Namespace Slipway creates is labelled for Pod Security Admission `restricted`.

Every object carries `LABEL_ID` (the entity id), `LABEL_MANAGED_BY` and `LABEL_NAME`; the
pods carry the Deployment's labels, and a Service selects them by the Deployment's id. The
same entity always gives the same manifest, so re-applying it changes nothing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from slipway_contracts.entities import Deployment, ProbeSettings, Service

from .placement import pod_placement
from .ports import LABEL_ID, LABEL_MANAGED_BY, LABEL_NAME, MANAGED_BY, RegistryPullLogin

ANNOTATION_REVISION = "slipway.io/revision"
"""The revision of the Slipway entity the object was applied from."""
LABEL_IMAGE_ID = "slipway.io/image-id"
"""On a pull Secret: the id of the ContainerImage whose registry login it holds."""
ANNOTATION_DEPLOYMENT_ID = "slipway.io/deployment-id"
"""On a Service: the id of the Deployment entity whose pods it selects."""

# The conventional unprivileged uid/gid (distroless `nonroot`): never 0, so the kubelet's
# runAsNonRoot check passes even for images built without a USER.
RUN_AS_USER = 65532
RUN_AS_GROUP = 65532
PORT_NAME = "app"
# A read-only root filesystem breaks programs that write temporary files; a small
# writable /tmp keeps most of them working without giving back the whole filesystem.
TMP_VOLUME = "tmp"
TMP_SIZE_LIMIT = "64Mi"
# Pod Security Admission on the namespaces Slipway creates: the pods Slipway makes meet
# `restricted`, so it is enforced; `latest` follows the cluster's own version of it.
POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce"
POD_SECURITY = {
    POD_SECURITY_ENFORCE: "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
    "pod-security.kubernetes.io/audit": "restricted",
    "pod-security.kubernetes.io/audit-version": "latest",
}


def labels(entity_id: str, name: str) -> dict[str, str]:
    """The labels that tie a cluster object to its Slipway entity."""
    return {LABEL_ID: entity_id, LABEL_MANAGED_BY: MANAGED_BY, LABEL_NAME: name}


def namespace_manifest(name: str) -> dict[str, Any]:
    """A Namespace Slipway creates when a workload's namespace does not exist yet: Pod
    Security Admission enforces (and warns and audits) the `restricted` standard in it."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {LABEL_MANAGED_BY: MANAGED_BY, **POD_SECURITY}},
    }


def lacks_pod_security(namespace: Mapping[str, Any]) -> bool:
    """A live Namespace Slipway created before it labelled them for Pod Security Admission
    (so it is labelled now). Namespaces Slipway did not create, and one whose enforce
    label someone set, are never relabelled."""
    found = (namespace.get("metadata") or {}).get("labels") or {}
    return found.get(LABEL_MANAGED_BY) == MANAGED_BY and POD_SECURITY_ENFORCE not in found


def service_account_name(deployment_name: str) -> str:
    """The ServiceAccount the pods of a Slipway Deployment run under."""
    return f"{deployment_name}-sa"


def objects_of(kind: str, name: str) -> list[tuple[str, str]]:
    """The (kind, name) of every object Slipway applies for a workload entity of `kind`
    named `name`, the workload's own object first: a Deployment's ServiceAccount and
    NetworkPolicy are deleted with it."""
    if kind != "Deployment":
        return [(kind, name)]
    return [(kind, name), ("NetworkPolicy", name), ("ServiceAccount", service_account_name(name))]


def _probe(settings: ProbeSettings, port: int) -> dict[str, Any]:
    check: dict[str, Any] = (
        {"httpGet": {"path": settings.path, "port": port, "scheme": "HTTP"}}
        if settings.path
        else {"tcpSocket": {"port": port}}
    )
    return {
        **check,
        "initialDelaySeconds": settings.initial_delay_seconds,
        "periodSeconds": settings.period_seconds,
        "failureThreshold": settings.failure_threshold,
        "timeoutSeconds": 1,
        "successThreshold": 1,
    }


def _pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_GROUP,
        "fsGroup": RUN_AS_GROUP,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_GROUP,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _port(deployment: Deployment) -> int:
    port = deployment.container_port
    if port is None:  # only a release's workloads lack one, and helm renders those
        raise ValueError(f"deployment '{deployment.name}' has no container port")
    return port


def _container(deployment: Deployment, image_ref: str) -> dict[str, Any]:
    resources = deployment.resources
    port = _port(deployment)
    return {
        "name": deployment.name,
        "image": image_ref,
        # Images handed to the cluster with `image load` exist only on its node: never
        # ask a registry for them (Always is the default for `latest`). A pushed image is
        # named by digest, so the node pulls it once and keeps it.
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": key, "value": deployment.env[key]} for key in sorted(deployment.env)],
        "resources": {
            "requests": {"cpu": resources.requests.cpu, "memory": resources.requests.memory},
            "limits": {"cpu": resources.limits.cpu, "memory": resources.limits.memory},
        },
        "livenessProbe": _probe(deployment.probe, port),
        "readinessProbe": _probe(deployment.probe, port),
        "securityContext": _container_security_context(),
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }


def pull_secret_name(image_id: str) -> str:
    """The Secret the pods of an image pushed with credentials pull it with."""
    return f"slipway-pull-{image_id[:8]}"


def pull_secret_manifest(namespace: str, image_id: str, login: RegistryPullLogin) -> dict[str, Any]:
    """The v1 Secret (`kubernetes.io/dockerconfigjson`) holding the image's registry login
    for its registry host, as `docker login` writes it."""
    basic = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
    auths = {
        "auths": {
            login.registry: {"username": login.username, "password": login.password, "auth": basic}
        }
    }
    config = json.dumps(auths, sort_keys=True).encode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": pull_secret_name(image_id),
            "namespace": namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_IMAGE_ID: image_id},
        },
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }


def deployment_manifest(
    deployment: Deployment, image_ref: str, pull_secret: str | None = None
) -> dict[str, Any]:
    """The apps/v1 Deployment for a Deployment entity running `image_ref` (pulled with the
    Secret `pull_secret`, when named).

    The revision annotation sits on the Deployment only, never on the pod template: a
    change that does not touch the pods (a scale, a new entity revision) must not restart
    them.
    """
    object_labels = labels(deployment.id, deployment.name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment.name,
            "namespace": deployment.namespace,
            "labels": object_labels,
            "annotations": {ANNOTATION_REVISION: str(deployment.revision)},
        },
        "spec": {
            "replicas": deployment.replicas,
            "progressDeadlineSeconds": deployment.progress_deadline_seconds,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {LABEL_ID: deployment.id}},
            # maxUnavailable 0: old pods keep serving until new ones are ready, so a
            # broken image stalls the rollout instead of taking the application down.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": dict(object_labels)},
                "spec": {
                    "serviceAccountName": service_account_name(deployment.name),
                    "automountServiceAccountToken": False,
                    # Service environment variables grow with every Service in the
                    # namespace and slow pod start-up; DNS is the way to find services.
                    "enableServiceLinks": False,
                    "securityContext": _pod_security_context(),
                    "containers": [_container(deployment, image_ref)],
                    "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}}],
                    **({"imagePullSecrets": [{"name": pull_secret}]} if pull_secret else {}),
                    **pod_placement(deployment),
                },
            },
        },
    }


def service_account_manifest(deployment: Deployment) -> dict[str, Any]:
    """The v1 ServiceAccount the Deployment's pods run under: an identity of their own
    (nothing is bound to it), with no API token mounted into them."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": service_account_name(deployment.name),
            "namespace": deployment.namespace,
            "labels": labels(deployment.id, deployment.name),
        },
        "automountServiceAccountToken": False,
    }


def network_policy_manifest(deployment: Deployment) -> dict[str, Any]:
    """The networking.k8s.io/v1 NetworkPolicy that isolates the Deployment's pods for
    ingress: they accept connections only on the container port, only from pods of
    their own namespace.

    That is what the Deployment's Kubernetes Services need: a Service forwards to the pod
    on its target port (which must be the container port), keeping the client pod's
    address, so the namespace's pods reach it through any of its Services. The port is
    open for TCP and UDP (a Service may be UDP). Connections from the pod's node are
    always allowed to an isolated pod, so the kubelet's probes still work, and so does
    NodePort and LoadBalancer traffic that kube-proxy forwards from the node (under the
    default `externalTrafficPolicy: Cluster` it takes the node's address; on a
    multi-node cluster, traffic entering through another node is not let in). Pods of
    other namespaces, and every other port, are shut out. Egress is left alone.
    """
    port = _port(deployment)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": deployment.name,
            "namespace": deployment.namespace,
            "labels": labels(deployment.id, deployment.name),
        },
        "spec": {
            "podSelector": {"matchLabels": {LABEL_ID: deployment.id}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {}}],
                    "ports": [
                        {"protocol": "TCP", "port": port},
                        {"protocol": "UDP", "port": port},
                    ],
                }
            ],
        },
    }


def deployment_objects(
    deployment: Deployment, image_ref: str, login: RegistryPullLogin | None = None
) -> list[dict[str, Any]]:
    """Every object of a Deployment entity, in the order they are applied: the image's pull
    Secret (when it has a registry `login`), the pods' ServiceAccount and their
    NetworkPolicy before the Deployment, so that no pod starts without its account, its
    pull Secret or unprotected."""
    secrets = []
    if login is not None and deployment.image_id:
        secrets = [pull_secret_manifest(deployment.namespace, deployment.image_id, login)]
    return [
        *secrets,
        service_account_manifest(deployment),
        network_policy_manifest(deployment),
        deployment_manifest(
            deployment, image_ref, secrets[0]["metadata"]["name"] if secrets else None
        ),
    ]


def service_manifest(service: Service, deployment: Deployment) -> dict[str, Any]:
    """The v1 Service for a Service entity, selecting the pods of `deployment`."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": service.name,
            "namespace": service.namespace,
            "labels": labels(service.id, service.name),
            "annotations": {
                ANNOTATION_REVISION: str(service.revision),
                ANNOTATION_DEPLOYMENT_ID: deployment.id,
            },
        },
        "spec": {
            "type": service.type,
            "selector": {LABEL_ID: deployment.id},
            "ports": [
                {
                    "name": PORT_NAME,
                    "port": service.port,
                    "targetPort": service.target_port,
                    "protocol": service.protocol,
                }
            ],
        },
    }
