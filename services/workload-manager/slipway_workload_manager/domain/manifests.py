"""The Kubernetes objects Slipway applies for a Deployment and a Service entity (pure).

They follow the data model's security and performance rules, so that a Slipway-made
Deployment is one that Slipway's own chart validator calls valid: a non-root, read-only,
capability-less container under the RuntimeDefault seccomp profile, no service-account
token, resource requests and limits, liveness and readiness probes on the container port,
and a zero-downtime rolling update bounded by the entity's progress deadline.

Every object carries `LABEL_ID` (the entity id), `LABEL_MANAGED_BY` and `LABEL_NAME`; the
pods carry the Deployment's labels, and a Service selects them by the Deployment's id. The
same entity always gives the same manifest, so re-applying it changes nothing.
"""

from __future__ import annotations

from typing import Any

from slipway_contracts.entities import Deployment, ProbeSettings, Service

from .ports import LABEL_ID, LABEL_MANAGED_BY, LABEL_NAME, MANAGED_BY

ANNOTATION_REVISION = "slipway.io/revision"
"""The revision of the Slipway entity the object was applied from."""
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


def labels(entity_id: str, name: str) -> dict[str, str]:
    """The labels that tie a cluster object to its Slipway entity."""
    return {LABEL_ID: entity_id, LABEL_MANAGED_BY: MANAGED_BY, LABEL_NAME: name}


def namespace_manifest(name: str) -> dict[str, Any]:
    """A Namespace Slipway creates when a workload's namespace does not exist yet."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {LABEL_MANAGED_BY: MANAGED_BY}},
    }


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


def _container(deployment: Deployment, image_ref: str) -> dict[str, Any]:
    resources = deployment.resources
    port = deployment.container_port
    if port is None:  # only a release's workloads lack one, and helm renders those
        raise ValueError(f"deployment '{deployment.name}' has no container port")
    return {
        "name": deployment.name,
        "image": image_ref,
        # Images handed to the cluster with `image load` exist only on its node: never
        # ask a registry for them (Always is the default for `latest`).
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


def deployment_manifest(deployment: Deployment, image_ref: str) -> dict[str, Any]:
    """The apps/v1 Deployment for a Deployment entity running `image_ref`.

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
                    "automountServiceAccountToken": False,
                    # Service environment variables grow with every Service in the
                    # namespace and slow pod start-up; DNS is the way to find services.
                    "enableServiceLinks": False,
                    "securityContext": _pod_security_context(),
                    "containers": [_container(deployment, image_ref)],
                    "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}}],
                },
            },
        },
    }


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
