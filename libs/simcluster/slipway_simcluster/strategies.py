"""Per-kind defaulting and validation, as the real API server applies them on write."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from slipway_simcluster import networking
from slipway_simcluster.clone import clone
from slipway_simcluster.errors import FieldError, invalid
from slipway_simcluster.meta import (
    LabelSelector,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    lookup,
    stable_suffix,
)
from slipway_simcluster.resources import (
    NAMESPACES,
    SERVICES,
    ResourceType,
)
from slipway_simcluster.store import Store

_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character"
)
_DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)


def pod_template_hash(template: dict[str, Any]) -> str:
    """The `pod-template-hash` label value of a pod template (stable for equal templates).

    As with the typed objects a real controller hashes, a null field counts as absent and
    the hash label itself is left out (`kubectl rollout undo` sends both kinds of template).
    """
    normalized = _without_nulls(template)
    labels = (normalized.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop("pod-template-hash", None)
    canonical = json.dumps(normalized, sort_keys=True, separators=(",", ":")).encode()
    return stable_suffix(hashlib.sha256(canonical).digest(), 10)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _validate_name(rt: ResourceType, name: str) -> FieldError | None:
    if not name:
        return FieldError(
            "metadata.name",
            "Required value: name or generateName is required",
            "FieldValueRequired",
        )
    if rt.key in (NAMESPACES.key,):
        ok, message = is_dns1123_label(name), _LABEL_MESSAGE
    elif rt.key == SERVICES.key:
        ok, message = is_dns1035_label(name), _DNS1035_MESSAGE
    elif rt.group == "rbac.authorization.k8s.io":
        # RBAC names are path segments (`system:aggregate-to-view` is a valid role name).
        ok = name not in (".", "..") and "/" not in name and "%" not in name
        message = 'may not be "." or ".." and may not contain "/" or "%"'
    else:
        ok, message = is_dns1123_subdomain(name), _SUBDOMAIN_MESSAGE
    if ok:
        return None
    return FieldError("metadata.name", f'Invalid value: "{name}": {message}')


def _default_container(container: dict[str, Any]) -> None:
    image = str(container.get("image", ""))
    tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
    latest = not tagged or image.endswith(":latest")
    container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")


def default_pod_spec(spec: dict[str, Any]) -> None:
    """Fill the pod spec defaults a real API server fills."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(container, dict):
            _default_container(container)


def _validate_pod_spec(spec: Any, path: str) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [FieldError(path, "Required value", "FieldValueRequired")]
    errors: list[FieldError] = []
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [FieldError(f"{path}.containers", "Required value", "FieldValueRequired")]
    names: set[str] = set()
    for index, container in enumerate(containers + (spec.get("initContainers") or [])):
        where = f"{path}.containers[{index}]"
        if not isinstance(container, dict):
            errors.append(FieldError(where, "Invalid value: must be an object"))
            continue
        name = container.get("name")
        if not isinstance(name, str) or not name:
            errors.append(FieldError(f"{where}.name", "Required value", "FieldValueRequired"))
        elif not is_dns1123_label(name):
            errors.append(FieldError(f"{where}.name", f'Invalid value: "{name}": {_LABEL_MESSAGE}'))
        elif name in names:
            errors.append(
                FieldError(f"{where}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate")
            )
        else:
            names.add(name)
        if not isinstance(container.get("image"), str) or not container.get("image"):
            errors.append(FieldError(f"{where}.image", "Required value", "FieldValueRequired"))
        for port_index, port in enumerate(container.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(number, int) or not 1 <= number <= 65535:
                errors.append(
                    FieldError(
                        f"{where}.ports[{port_index}].containerPort",
                        f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                    )
                )
    return errors


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        try:
            percent = int(text[:-1])
        except ValueError:
            return 0
        scaled = total * percent
        return -(-scaled // 100) if round_up else scaled // 100
    try:
        return int(text)
    except ValueError:
        return 0


def rolling_bounds(deployment: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas, as the controller uses them."""
    spec = deployment.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, replicas
    rolling = strategy.get("rollingUpdate") or {}
    surge = _int_or_percent(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = _int_or_percent(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the controller guarantees progress
    return surge, min(unavailable, replicas)


class Strategy:
    """Defaults and validation for one kind; the base serves kinds with no special rules."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        """Default and validate a new object (raises 422 Invalid)."""

    def prepare_update(self, obj: dict[str, Any], old: dict[str, Any], store: Store) -> None:
        """Default and validate a replacement of `old` (raises 422 Invalid)."""
        self.prepare_create(obj, store)


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything but type, metadata and status: what `metadata.generation` counts changes of."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}


class SpecAndStatusStrategy(Strategy):
    """Kinds with a status subresource: status starts empty and is kept by main-resource
    writes; `metadata.generation` starts at 1 and counts changes of everything else."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        self.default(obj, store)
        obj["metadata"]["generation"] = 1
        obj.setdefault("status", {})

    def prepare_update(self, obj: dict[str, Any], old: dict[str, Any], store: Store) -> None:
        self.default(obj, store)
        self.check_update(obj, old)
        generation = int(old["metadata"].get("generation", 1))
        if spec_of(obj) != spec_of(old):
            generation += 1
        obj["metadata"]["generation"] = generation

    def default(self, obj: dict[str, Any], store: Store) -> None:
        """Fill defaults and validate (both create and update)."""

    def check_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        """Refuse changes of immutable fields."""


def immutable(kind: str, group: str, obj: dict[str, Any], old: dict[str, Any], *paths: str) -> None:
    """422 Invalid if any dotted path changed between `old` and `obj`."""
    errors = [
        FieldError(path, "Invalid value: field is immutable")
        for path in paths
        if lookup(obj, path) != lookup(old, path)
    ]
    if errors:
        raise invalid(kind, group, obj["metadata"]["name"], errors)


def default_pod_template(template: Any) -> None:
    """Pod defaults inside a pod template (Deployments, StatefulSets, Jobs, …)."""
    if isinstance(template, dict):
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])


class NamespaceStrategy(Strategy):
    """Namespaces carry their name label, the kubernetes finalizer and phase Active."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        name = obj["metadata"]["name"]
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")


class DeploymentStrategy(Strategy):
    """apps/v1 Deployment defaults and validation; generation follows spec changes."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        self._default(obj)
        self._validate(obj)
        obj["metadata"]["generation"] = 1
        obj["status"] = {}

    def prepare_update(self, obj: dict[str, Any], old: dict[str, Any], store: Store) -> None:
        self._default(obj)
        self._validate(obj)
        old_selector = (old.get("spec") or {}).get("selector")
        if obj["spec"].get("selector") != old_selector:
            raise invalid(
                "Deployment",
                "apps",
                obj["metadata"]["name"],
                [FieldError("spec.selector", "Invalid value: field is immutable")],
            )
        generation = int(old["metadata"].get("generation", 1))
        if obj.get("spec") != old.get("spec"):
            generation += 1
        obj["metadata"]["generation"] = generation

    def _default(self, obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {})
        if isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])

    def _validate(self, obj: dict[str, Any]) -> None:
        spec = obj["spec"]
        name = obj["metadata"]["name"]
        errors: list[FieldError] = []
        replicas = spec.get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            errors.append(
                FieldError(
                    "spec.replicas",
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                )
            )
        selector = spec.get("selector")
        labels = (spec["template"].get("metadata") or {}).get("labels") or {}
        if not isinstance(selector, dict) or not (
            selector.get("matchLabels") or selector.get("matchExpressions")
        ):
            errors.append(FieldError("spec.selector", "Required value", "FieldValueRequired"))
        elif not LabelSelector.from_object(selector).matches(labels):
            errors.append(
                FieldError(
                    "spec.template.metadata.labels",
                    f"Invalid value: {labels}: `selector` does not match template `labels`",
                )
            )
        errors += _validate_pod_spec(spec["template"].get("spec"), "spec.template.spec")
        deadline, min_ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds", 0)
        if isinstance(deadline, int) and isinstance(min_ready, int) and deadline <= min_ready:
            errors.append(
                FieldError(
                    "spec.progressDeadlineSeconds",
                    f"Invalid value: {deadline}: must be greater than minReadySeconds",
                )
            )
        strategy_type = spec["strategy"].get("type")
        if strategy_type not in ("RollingUpdate", "Recreate"):
            errors.append(
                FieldError(
                    "spec.strategy.type",
                    f'Unsupported value: "{strategy_type}": supported values: "Recreate", "RollingUpdate"',
                    "FieldValueNotSupported",
                )
            )
        elif strategy_type == "RollingUpdate" and isinstance(replicas, int):
            rolling = spec["strategy"].get("rollingUpdate") or {}
            if _int_or_percent(rolling.get("maxSurge"), 100, True) == 0 and (
                _int_or_percent(rolling.get("maxUnavailable"), 100, False) == 0
            ):
                errors.append(
                    FieldError(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        "Invalid value: 0: may not be 0 when `maxSurge` is 0",
                    )
                )
        if errors:
            raise invalid("Deployment", "apps", name, errors)


class PodStrategy(Strategy):
    """Pods are defaulted like real ones and start Pending; the simulated kubelet runs them."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        spec = obj.get("spec")
        errors = _validate_pod_spec(spec, "spec")
        if errors:
            raise invalid("Pod", "", obj["metadata"]["name"], errors)
        default_pod_spec(obj["spec"])
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

    def prepare_update(self, obj: dict[str, Any], old: dict[str, Any], store: Store) -> None:
        errors = _validate_pod_spec(obj.get("spec"), "spec")
        if errors:
            raise invalid("Pod", "", obj["metadata"]["name"], errors)
        default_pod_spec(obj["spec"])


class ServiceStrategy(Strategy):
    """Services get a ClusterIP (and NodePorts when their type needs them)."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        self._prepare(obj, None, store)

    def prepare_update(self, obj: dict[str, Any], old: dict[str, Any], store: Store) -> None:
        self._prepare(obj, old, store)

    def _prepare(self, obj: dict[str, Any], old: dict[str, Any] | None, store: Store) -> None:
        spec = obj.setdefault("spec", {})
        name = obj["metadata"]["name"]
        old_spec = (old or {}).get("spec") or {}
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        errors: list[FieldError] = []
        service_type = spec["type"]
        if service_type not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            errors.append(
                FieldError(
                    "spec.type",
                    f'Unsupported value: "{service_type}": supported values: "ClusterIP", '
                    '"ExternalName", "LoadBalancer", "NodePort"',
                    "FieldValueNotSupported",
                )
            )
        ports = spec.get("ports") or []
        if not ports and service_type != "ExternalName" and spec.get("clusterIP") != "None":
            errors.append(FieldError("spec.ports", "Required value", "FieldValueRequired"))
        errors += self._default_ports(spec, old_spec, store)
        if service_type != "ExternalName":
            errors += self._assign_cluster_ip(spec, old_spec, store)
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        if service_type in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if service_type == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        if errors:
            raise invalid("Service", "", name, errors)
        obj["status"] = (old or {}).get("status") or {"loadBalancer": {}}

    def _default_ports(
        self, spec: dict[str, Any], old_spec: dict[str, Any], store: Store
    ) -> list[FieldError]:
        errors: list[FieldError] = []
        needs_node_port = spec["type"] in ("NodePort", "LoadBalancer")
        old_node_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
            for p in old_spec.get("ports") or []
            if p.get("nodePort")
        }
        taken = networking.used_node_ports(store) - set(old_node_ports.values())
        names: set[str] = set()
        ports = spec.get("ports") or []
        for index, port in enumerate(ports):
            where = f"spec.ports[{index}]"
            number = port.get("port")
            if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
                errors.append(
                    FieldError(
                        f"{where}.port",
                        f"Invalid value: {number!r}: must be between 1 and 65535, inclusive",
                    )
                )
                continue
            port.setdefault("protocol", "TCP")
            if port["protocol"] not in ("TCP", "UDP", "SCTP"):
                errors.append(
                    FieldError(
                        f"{where}.protocol",
                        f'Unsupported value: "{port["protocol"]}"',
                        "FieldValueNotSupported",
                    )
                )
            port.setdefault("targetPort", number)
            target = port["targetPort"]
            if isinstance(target, int) and not 1 <= target <= 65535:
                errors.append(
                    FieldError(
                        f"{where}.targetPort",
                        f"Invalid value: {target}: must be between 1 and 65535, inclusive",
                    )
                )
            port_name = port.get("name", "")
            if len(ports) > 1 and not port_name:
                errors.append(FieldError(f"{where}.name", "Required value", "FieldValueRequired"))
            elif port_name in names:
                errors.append(
                    FieldError(
                        f"{where}.name", f'Duplicate value: "{port_name}"', "FieldValueDuplicate"
                    )
                )
            names.add(port_name)
            if not needs_node_port:
                if "nodePort" in port and port["nodePort"] not in (None, 0):
                    if old_spec.get("type") in ("NodePort", "LoadBalancer"):
                        port.pop("nodePort")  # wiped when the type no longer needs it
                    else:
                        errors.append(
                            FieldError(
                                f"{where}.nodePort",
                                "Forbidden: may not be used when `type` is 'ClusterIP'",
                                "FieldValueForbidden",
                            )
                        )
                port.pop("nodePort", None)
                continue
            wanted = port.get("nodePort") or old_node_ports.get((number, port["protocol"]))
            if wanted:
                if wanted not in networking.NODE_PORT_RANGE:
                    errors.append(
                        FieldError(
                            f"{where}.nodePort",
                            f"Invalid value: {wanted}: provided port is not in the valid range. "
                            "The range of valid ports is 30000-32767",
                        )
                    )
                elif wanted in taken:
                    errors.append(
                        FieldError(
                            f"{where}.nodePort",
                            f"Invalid value: {wanted}: provided port is already allocated",
                        )
                    )
                port["nodePort"] = wanted
            else:
                port["nodePort"] = networking.allocate_node_port(taken)
            taken.add(port["nodePort"])
        return errors

    def _assign_cluster_ip(
        self, spec: dict[str, Any], old_spec: dict[str, Any], store: Store
    ) -> list[FieldError]:
        old_ip = old_spec.get("clusterIP")
        wanted = spec.get("clusterIP") or old_ip
        if old_ip and wanted != old_ip:
            return [
                FieldError(
                    "spec.clusterIPs[0]", f"Invalid value: {[wanted]}: may not change once set"
                )
            ]
        if wanted == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
            return []
        if wanted and wanted != old_ip:
            if not networking.service_ip_in_range(wanted):
                return [
                    FieldError(
                        "spec.clusterIPs",
                        f"Invalid value: {[wanted]}: failed to allocate IP {wanted}: provided IP is not in the "
                        f"valid range. The range of valid IPs is {networking.SERVICE_CIDR}",
                    )
                ]
            if wanted in networking.used_cluster_ips(store):
                return [
                    FieldError(
                        "spec.clusterIPs",
                        f"Invalid value: {[wanted]}: failed to allocate IP {wanted}: provided IP is already allocated",
                    )
                ]
        ip = wanted or networking.allocate_cluster_ip(store)
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        return []


class SecretStrategy(Strategy):
    """Secrets fold `stringData` into base64 `data` and default to type Opaque."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        obj.setdefault("type", "Opaque")
        data = dict(obj.get("data") or {})
        errors = []
        for key, value in data.items():
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                errors.append(
                    FieldError(
                        f"data[{key}]", "Invalid value: <secret contents redacted>: not base64"
                    )
                )
        for key, value in (obj.pop("stringData", None) or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        if errors:
            raise invalid("Secret", "", obj["metadata"]["name"], errors)
        if data:
            obj["data"] = data


def validate_metadata(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Name checks common to every kind (422 Invalid)."""
    error = _validate_name(rt, obj["metadata"].get("name", ""))
    if error is not None:
        raise invalid(rt.kind, rt.group, obj["metadata"].get("name", ""), [error])


def scrub_for_create(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop server-owned metadata a client may not set on create."""
    obj = clone(obj)
    metadata = obj.setdefault("metadata", {})
    for key in (
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "generation",
        "managedFields",
        "selfLink",
    ):
        metadata.pop(key, None)
    return obj
