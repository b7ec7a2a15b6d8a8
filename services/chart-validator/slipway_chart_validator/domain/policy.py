"""Security and operability policy over rendered manifests (step 5 of validation).

Each rule reports at most one finding per container (per port for the port rules), naming
the object (`Deployment/web`) and the field path a chart author has to change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .findings import Finding, Severity
from .manifests import Manifest

WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}
)
# Run-to-completion workloads have no use for liveness/readiness probes.
_RUN_TO_COMPLETION_KINDS = frozenset({"Job", "CronJob"})
MIN_PORT, MAX_PORT = 1, 65535


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: object) -> list[tuple[int, dict[str, Any]]]:
    """The mappings of a list with their original index (so paths stay right)."""
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


@dataclass(frozen=True)
class PodTemplate:
    """The pod a workload runs, with the path of its spec inside the manifest."""

    manifest: Manifest
    spec: dict[str, Any]
    spec_path: str
    labels: dict[str, Any]

    @property
    def long_running(self) -> bool:
        if self.manifest.kind in _RUN_TO_COMPLETION_KINDS:
            return False
        # A bare Pod that is not restarted (a helm test hook, a one-off task) runs to completion.
        return bool(self.spec.get("restartPolicy", "Always") == "Always")


@dataclass(frozen=True)
class Container:
    pod: PodTemplate
    body: dict[str, Any]
    path: str
    is_init: bool

    @property
    def name(self) -> str:
        return str(self.body.get("name") or "?")

    @property
    def label(self) -> str:
        return f"{'init container' if self.is_init else 'container'} {self.name!r}"

    @property
    def is_sidecar(self) -> bool:
        # Kubernetes native sidecars: init containers that keep running next to the app.
        return self.is_init and self.body.get("restartPolicy") == "Always"

    @property
    def security_context(self) -> dict[str, Any]:
        return _mapping(self.body.get("securityContext"))

    def finding(self, rule: str, message: str, field: str, *, path: str | None = None) -> Finding:
        """An error about this container; `field` is relative to it unless `path` is given."""
        return Finding(
            severity="error",
            rule=rule,
            message=f"{self.label}: {message}",
            file=self.pod.manifest.file,
            resource=self.pod.manifest.resource,
            path=path or f"{self.path}.{field}",
        )


def pod_template(manifest: Manifest) -> PodTemplate | None:
    """The pod template of a workload object, or None for other kinds."""
    kind, body = manifest.kind, manifest.body
    if kind not in WORKLOAD_KINDS:
        return None
    if kind == "Pod":
        return PodTemplate(manifest, _mapping(body.get("spec")), "spec", manifest.metadata)
    if kind == "CronJob":
        job_spec = _mapping(_mapping(_mapping(body.get("spec")).get("jobTemplate")).get("spec"))
        template = _mapping(job_spec.get("template"))
        path = "spec.jobTemplate.spec.template.spec"
    else:
        template = _mapping(_mapping(body.get("spec")).get("template"))
        path = "spec.template.spec"
    labels = _mapping(_mapping(template.get("metadata")).get("labels"))
    return PodTemplate(manifest, _mapping(template.get("spec")), path, labels)


def containers(pod: PodTemplate) -> Iterator[Container]:
    for key, is_init in (("initContainers", True), ("containers", False)):
        for index, body in _items(pod.spec.get(key)):
            yield Container(pod, body, f"{pod.spec_path}.{key}[{index}]", is_init)


# --- container rules -------------------------------------------------------------------


def check_run_as_non_root(container: Container) -> Finding | None:
    pod_context = _mapping(container.pod.spec.get("securityContext"))
    context = container.security_context
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    if "runAsUser" in context:
        uid, uid_path = context["runAsUser"], f"{container.path}.securityContext.runAsUser"
    else:
        uid = pod_context.get("runAsUser")
        uid_path = f"{container.pod.spec_path}.securityContext.runAsUser"
    if uid == 0:
        return container.finding(
            "policy.run-as-non-root",
            "runs as root (runAsUser: 0); use a non-zero UID",
            "",
            path=uid_path,
        )
    if non_root is True or (isinstance(uid, int) and uid > 0):
        return None
    return container.finding(
        "policy.run-as-non-root",
        "may run as root: set securityContext.runAsNonRoot: true or runAsUser > 0 "
        "(on the container or the pod)",
        "securityContext.runAsNonRoot",
    )


def check_not_privileged(container: Container) -> Finding | None:
    if container.security_context.get("privileged") is True:
        return container.finding(
            "policy.no-privileged",
            "is privileged (securityContext.privileged: true)",
            "securityContext.privileged",
        )
    return None


def check_no_privilege_escalation(container: Container) -> Finding | None:
    # Kubernetes allows escalation unless it is switched off explicitly.
    if container.security_context.get("allowPrivilegeEscalation") is False:
        return None
    return container.finding(
        "policy.no-privilege-escalation",
        "must set securityContext.allowPrivilegeEscalation: false",
        "securityContext.allowPrivilegeEscalation",
    )


def _check_resources(container: Container, section: str) -> Finding | None:
    amounts = _mapping(_mapping(container.body.get("resources")).get(section))
    missing = [name for name in ("cpu", "memory") if amounts.get(name) in (None, "")]
    if not missing:
        return None
    field = f"resources.{section}" + (f".{missing[0]}" if len(missing) == 1 else "")
    verb = "request" if section == "requests" else "limit"
    return container.finding(
        f"policy.resources-{section}", f"does not {verb} {' and '.join(missing)}", field
    )


def check_resource_requests(container: Container) -> Finding | None:
    return _check_resources(container, "requests")


def check_resource_limits(container: Container) -> Finding | None:
    return _check_resources(container, "limits")


def _check_probe(container: Container, probe: str, rule: str) -> Finding | None:
    if container.is_init or not container.pod.long_running:
        return None
    if _mapping(container.body.get(probe)):
        return None
    return container.finding(rule, f"has no {probe}", probe)


def check_liveness_probe(container: Container) -> Finding | None:
    return _check_probe(container, "livenessProbe", "policy.liveness-probe")


def check_readiness_probe(container: Container) -> Finding | None:
    return _check_probe(container, "readinessProbe", "policy.readiness-probe")


def image_tag_problem(image: object) -> str | None:
    """Why an image reference is not pinned, or None if it is (a tag or a digest)."""
    if not isinstance(image, str) or not image.strip():
        return "has no image"
    if "@" in image:
        return None if image.rsplit("@", 1)[1] else f"image {image!r} has an empty digest"
    last_segment = image.rsplit("/", 1)[-1]  # a registry port (host:5000/app) is not a tag
    if ":" not in last_segment:
        return f"image {image!r} has no tag, so it resolves to latest; pin a version"
    tag = last_segment.rsplit(":", 1)[1]
    if tag == "latest":
        return f"image {image!r} uses the latest tag; pin a version or a digest"
    if not tag:
        return f"image {image!r} has an empty tag"
    return None


def check_image_tag(container: Container) -> Finding | None:
    problem = image_tag_problem(container.body.get("image"))
    return container.finding("policy.image-tag", problem, "image") if problem else None


def check_container_ports(container: Container) -> list[Finding]:
    findings = []
    for index, port in _items(container.body.get("ports")):
        for key in ("containerPort", "hostPort"):
            number = port.get(key)
            if key == "hostPort" and number in (None, 0):
                continue
            if isinstance(number, int) and not MIN_PORT <= number <= MAX_PORT:
                findings.append(
                    container.finding(
                        "policy.port-range",
                        f"{key} {number} is outside {MIN_PORT}-{MAX_PORT}",
                        f"ports[{index}].{key}",
                    )
                )
    return findings


CONTAINER_CHECKS = (
    check_run_as_non_root,
    check_not_privileged,
    check_no_privilege_escalation,
    check_resource_requests,
    check_resource_limits,
    check_liveness_probe,
    check_readiness_probe,
    check_image_tag,
)


def check_container(container: Container) -> list[Finding]:
    findings = [finding for check in CONTAINER_CHECKS if (finding := check(container))]
    return findings + check_container_ports(container)


# --- service rules ---------------------------------------------------------------------


def _serving_ports(pod: PodTemplate) -> tuple[set[int], set[str]]:
    numbers: set[int] = set()
    names: set[str] = set()
    for container in containers(pod):
        if container.is_init and not container.is_sidecar:
            continue
        for _, port in _items(container.body.get("ports")):
            if isinstance(port.get("containerPort"), int):
                numbers.add(port["containerPort"])
            if port.get("name"):
                names.add(str(port["name"]))
    return numbers, names


def _selects(selector: dict[str, Any], pod: PodTemplate, service: Manifest) -> bool:
    if pod.manifest.namespace != service.namespace:
        return False
    return all(
        key in pod.labels and str(pod.labels[key]) == str(value) for key, value in selector.items()
    )


def _describe_ports(numbers: set[int], names: set[str]) -> str:
    described = [str(number) for number in sorted(numbers)] + sorted(names)
    return ", ".join(described) or "none"


def check_service(service: Manifest, pods: Sequence[PodTemplate]) -> list[Finding]:
    spec = _mapping(service.body.get("spec"))
    findings: list[Finding] = []

    def finding(rule: str, message: str, path: str, severity: Severity = "error") -> Finding:
        return Finding(
            severity=severity,
            rule=rule,
            message=message,
            file=service.file,
            resource=service.resource,
            path=path,
        )

    ports = _items(spec.get("ports"))
    for index, port in ports:
        for key in ("port", "targetPort"):
            number = port.get(key)
            if isinstance(number, int) and not MIN_PORT <= number <= MAX_PORT:
                findings.append(
                    finding(
                        "policy.port-range",
                        f"{key} {number} is outside {MIN_PORT}-{MAX_PORT}",
                        f"spec.ports[{index}].{key}",
                    )
                )

    selector = _mapping(spec.get("selector"))
    # Without a selector (or for ExternalName) the endpoints are managed elsewhere.
    if not selector or spec.get("type") == "ExternalName":
        return findings
    selected = [pod for pod in pods if _selects(selector, pod, service)]
    if not selected:
        labels = ", ".join(f"{key}={value}" for key, value in sorted(selector.items()))
        findings.append(
            finding(
                "policy.service-selector",
                f"selector {labels} selects no pod of the chart's workloads, "
                "so its targetPort cannot be checked",
                "spec.selector",
                severity="warning",
            )
        )
        return findings

    for index, port in ports:
        key = "targetPort" if "targetPort" in port else "port"
        target = port.get(key)
        if target is None:
            continue
        lacking = []
        for pod in selected:
            numbers, names = _serving_ports(pod)
            found = target in numbers if isinstance(target, int) else str(target) in names
            if not found:
                lacking.append(
                    f"{pod.manifest.resource} (ports: {_describe_ports(numbers, names)})"
                )
        if lacking:
            kind = "port number" if isinstance(target, int) else "named port"
            findings.append(
                finding(
                    "policy.service-target-port",
                    f"{key} {target!r} is not a {kind} of the selected pods: {'; '.join(lacking)}",
                    f"spec.ports[{index}].{key}",
                )
            )
    return findings


def check_policy(manifests: Sequence[Manifest]) -> list[Finding]:
    """Every policy finding for a set of rendered objects (unsorted, unfiltered)."""
    pods = [pod for manifest in manifests if (pod := pod_template(manifest))]
    findings: list[Finding] = []
    for pod in pods:
        for container in containers(pod):
            findings.extend(check_container(container))
    for manifest in manifests:
        if manifest.kind == "Service":
            findings.extend(check_service(manifest, pods))
    return findings
