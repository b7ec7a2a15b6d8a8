"""Reading Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).

client-go's typed clients send them: helm stores its releases in Secrets that way, and
kubectl's imperative commands (`create deployment|secret|configmap|job|…`, `run`,
`expose`) create their objects so. The body is the `k8s\\0` magic, then a
`runtime.Unknown` envelope naming apiVersion and kind around the object's message.

The messages are described below in a compact table of our own (field number, JSON name,
type), for the kinds those clients send; a field the table does not know is refused
with 415 when it carries a value, never silently dropped. Responses are always JSON, which
those clients accept too.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slipway_simcluster.errors import ApiError

MAGIC = b"k8s\x00"

# Message descriptions: `<number> <jsonName> [<type>]` per field, `;`-separated. Types:
# str (default), int, bool, bytes (base64 in JSON), map (string to string), bytesmap,
# qmap (string to Quantity), time, quantity, intstr, json (raw JSON bytes), ignore (a
# field the server sets itself, such as status), a message name, `[T]` for repeated,
# `T?` for a pointer field whose zero value is kept, `T^` for a struct inlined in JSON.
_MESSAGES = """
Unknown: 1 typeMeta TypeMeta; 2 raw bytes; 3 contentEncoding; 4 contentType
TypeMeta: 1 apiVersion; 2 kind
ObjectMeta: 1 name; 2 generateName; 3 namespace; 4 selfLink; 5 uid; 6 resourceVersion;
  7 generation int; 8 creationTimestamp time; 9 deletionTimestamp time;
  10 deletionGracePeriodSeconds int?; 11 labels map; 12 annotations map;
  13 ownerReferences [OwnerReference]; 14 finalizers [str]; 17 managedFields [ManagedFieldsEntry]
OwnerReference: 1 kind; 3 name; 4 uid; 5 apiVersion; 6 controller bool?;
  7 blockOwnerDeletion bool?
ManagedFieldsEntry: 1 manager; 2 operation; 3 apiVersion; 4 time time; 6 fieldsType;
  7 fieldsV1 FieldsV1; 8 subresource
FieldsV1: 1 raw json
LabelSelector: 1 matchLabels map; 2 matchExpressions [LabelSelectorRequirement]
LabelSelectorRequirement: 1 key; 2 operator; 3 values [str]
DeleteOptions: 1 gracePeriodSeconds int?; 2 preconditions Preconditions;
  3 orphanDependents bool?; 4 propagationPolicy; 5 dryRun [str]
Preconditions: 1 uid str?; 2 resourceVersion str?
ObjectReference: 1 kind; 2 namespace; 3 name; 4 uid; 5 apiVersion; 6 resourceVersion;
  7 fieldPath
LocalObjectReference: 1 name
Secret: 1 metadata ObjectMeta; 2 data bytesmap; 3 type; 4 stringData map; 5 immutable bool?
ConfigMap: 1 metadata ObjectMeta; 2 data map; 3 binaryData bytesmap; 4 immutable bool?
Namespace: 1 metadata ObjectMeta; 2 spec NamespaceSpec; 3 status ignore
NamespaceSpec: 1 finalizers [str]
ServiceAccount: 1 metadata ObjectMeta; 2 secrets [ObjectReference];
  3 imagePullSecrets [LocalObjectReference]; 4 automountServiceAccountToken bool?
Service: 1 metadata ObjectMeta; 2 spec ServiceSpec; 3 status ignore
ServiceSpec: 1 ports [ServicePort]; 2 selector map; 3 clusterIP; 4 type; 5 externalIPs [str];
  7 sessionAffinity; 8 loadBalancerIP; 9 loadBalancerSourceRanges [str]; 10 externalName;
  11 externalTrafficPolicy; 12 healthCheckNodePort int; 13 publishNotReadyAddresses bool;
  17 ipFamilyPolicy str?; 18 clusterIPs [str]; 19 ipFamilies [str];
  20 allocateLoadBalancerNodePorts bool?; 21 loadBalancerClass str?;
  22 internalTrafficPolicy str?; 23 trafficDistribution str?
ServicePort: 1 name; 2 protocol; 3 port int; 4 targetPort intstr; 5 nodePort int;
  6 appProtocol str?
Pod: 1 metadata ObjectMeta; 2 spec PodSpec; 3 status ignore
PodTemplateSpec: 1 metadata ObjectMeta; 2 spec PodSpec
PodSpec: 2 containers [Container]; 3 restartPolicy; 4 terminationGracePeriodSeconds int?;
  5 activeDeadlineSeconds int?; 6 dnsPolicy; 7 nodeSelector map; 8 serviceAccountName;
  9 serviceAccount; 10 nodeName; 11 hostNetwork bool; 12 hostPID bool; 13 hostIPC bool;
  15 imagePullSecrets [LocalObjectReference]; 16 hostname; 17 subdomain; 19 schedulerName;
  20 initContainers [Container]; 21 automountServiceAccountToken bool?; 24 priorityClassName;
  25 priority int?; 27 shareProcessNamespace bool?; 29 runtimeClassName str?;
  30 enableServiceLinks bool?; 31 preemptionPolicy str?; 35 setHostnameAsFQDN bool?;
  37 hostUsers bool?
Container: 1 name; 2 image; 3 command [str]; 4 args [str]; 5 workingDir;
  6 ports [ContainerPort]; 7 env [EnvVar]; 8 resources ResourceRequirements;
  13 terminationMessagePath; 14 imagePullPolicy; 16 stdin bool; 17 stdinOnce bool;
  18 tty bool; 19 envFrom [EnvFromSource]; 20 terminationMessagePolicy; 24 restartPolicy str?
ContainerPort: 1 name; 2 hostPort int; 3 containerPort int; 4 protocol; 5 hostIP
EnvVar: 1 name; 2 value; 3 valueFrom EnvVarSource
EnvVarSource: 1 fieldRef ObjectFieldSelector; 2 resourceFieldRef ResourceFieldSelector;
  3 configMapKeyRef KeySelector; 4 secretKeyRef KeySelector
ObjectFieldSelector: 1 apiVersion; 2 fieldPath
ResourceFieldSelector: 1 containerName; 2 resource; 3 divisor quantity
KeySelector: 1 reference LocalObjectReference^; 2 key; 3 optional bool?
EnvFromSource: 1 prefix; 2 configMapRef RefSource; 3 secretRef RefSource
RefSource: 1 reference LocalObjectReference^; 2 optional bool?
ResourceRequirements: 1 limits qmap; 2 requests qmap
Deployment: 1 metadata ObjectMeta; 2 spec DeploymentSpec; 3 status ignore
DeploymentSpec: 1 replicas int?; 2 selector LabelSelector; 3 template PodTemplateSpec;
  4 strategy DeploymentStrategy; 5 minReadySeconds int; 6 revisionHistoryLimit int?;
  7 paused bool; 9 progressDeadlineSeconds int?
DeploymentStrategy: 1 type; 2 rollingUpdate RollingUpdateDeployment
RollingUpdateDeployment: 1 maxUnavailable intstr; 2 maxSurge intstr
Job: 1 metadata ObjectMeta; 2 spec JobSpec; 3 status ignore
JobSpec: 1 parallelism int?; 2 completions int?; 3 activeDeadlineSeconds int?;
  4 selector LabelSelector; 5 manualSelector bool?; 6 template PodTemplateSpec;
  7 backoffLimit int?; 8 ttlSecondsAfterFinished int?; 9 completionMode str?;
  10 suspend bool?; 12 backoffLimitPerIndex int?; 13 maxFailedIndexes int?;
  14 podReplacementPolicy str?; 15 managedBy str?
CronJob: 1 metadata ObjectMeta; 2 spec CronJobSpec; 3 status ignore
CronJobSpec: 1 schedule; 2 startingDeadlineSeconds int?; 3 concurrencyPolicy;
  4 suspend bool?; 5 jobTemplate JobTemplateSpec; 6 successfulJobsHistoryLimit int?;
  7 failedJobsHistoryLimit int?; 8 timeZone str?
JobTemplateSpec: 1 metadata ObjectMeta; 2 spec JobSpec
Role: 1 metadata ObjectMeta; 2 rules [PolicyRule]
ClusterRole: 1 metadata ObjectMeta; 2 rules [PolicyRule]; 3 aggregationRule AggregationRule
AggregationRule: 1 clusterRoleSelectors [LabelSelector]
PolicyRule: 1 verbs [str]; 2 apiGroups [str]; 3 resources [str]; 4 resourceNames [str];
  5 nonResourceURLs [str]
RoleBinding: 1 metadata ObjectMeta; 2 subjects [Subject]; 3 roleRef RoleRef
ClusterRoleBinding: 1 metadata ObjectMeta; 2 subjects [Subject]; 3 roleRef RoleRef
Subject: 1 kind; 2 apiGroup; 3 name; 4 namespace
RoleRef: 1 apiGroup; 2 kind; 3 name
PodDisruptionBudget: 1 metadata ObjectMeta; 2 spec PodDisruptionBudgetSpec; 3 status ignore
PodDisruptionBudgetSpec: 1 minAvailable intstr; 2 selector LabelSelector;
  3 maxUnavailable intstr; 4 unhealthyPodEvictionPolicy str?
PriorityClass: 1 metadata ObjectMeta; 2 value int; 3 globalDefault bool; 4 description;
  5 preemptionPolicy str?
ResourceQuota: 1 metadata ObjectMeta; 2 spec ResourceQuotaSpec; 3 status ignore
ResourceQuotaSpec: 1 hard qmap; 2 scopes [str]
Ingress: 1 metadata ObjectMeta; 2 spec IngressSpec; 3 status ignore
IngressSpec: 1 defaultBackend IngressBackend; 2 tls [IngressTLS]; 3 rules [IngressRule];
  4 ingressClassName str?
IngressTLS: 1 hosts [str]; 2 secretName
IngressRule: 1 host; 2 value IngressRuleValue^
IngressRuleValue: 1 http HTTPIngressRuleValue
HTTPIngressRuleValue: 1 paths [HTTPIngressPath]
HTTPIngressPath: 1 path; 2 backend IngressBackend; 3 pathType str?
IngressBackend: 3 resource TypedLocalObjectReference; 4 service IngressServiceBackend
TypedLocalObjectReference: 1 apiGroup str?; 2 kind; 3 name
IngressServiceBackend: 1 name; 2 port ServiceBackendPort
ServiceBackendPort: 1 name; 2 number int
HorizontalPodAutoscaler: 1 metadata ObjectMeta; 2 spec HorizontalPodAutoscalerSpec;
  3 status ignore
HorizontalPodAutoscalerSpec: 1 scaleTargetRef CrossVersionObjectReference;
  2 minReplicas int?; 3 maxReplicas int; 4 metrics [MetricSpec]
CrossVersionObjectReference: 1 kind; 2 name; 3 apiVersion
MetricSpec: 1 type; 4 resource ResourceMetricSource
ResourceMetricSource: 1 name; 2 target MetricTarget
MetricTarget: 1 type; 2 value quantity; 3 averageValue quantity; 4 averageUtilization int?
Quantity: 1 string
IntOrString: 1 type int; 2 intVal int; 3 strVal
Time: 1 seconds int; 2 nanos int
"""

# The message of each kind clients may send as protobuf, by kind.
_KINDS = {
    "Secret",
    "ConfigMap",
    "Namespace",
    "ServiceAccount",
    "Service",
    "Pod",
    "Deployment",
    "Job",
    "CronJob",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "PodDisruptionBudget",
    "PriorityClass",
    "ResourceQuota",
    "Ingress",
    "HorizontalPodAutoscaler",
    "DeleteOptions",
}
_SCALARS = {"str", "int", "bool", "bytes", "json"}


@dataclass(frozen=True)
class _Field:
    name: str
    type: str
    repeated: bool = False
    pointer: bool = False
    inline: bool = False


def _parse_table(text: str) -> dict[str, dict[int, _Field]]:
    messages: dict[str, dict[int, _Field]] = {}
    joined = text.replace("\n  ", " ")
    for line in joined.strip().splitlines():
        name, _, body = line.partition(":")
        fields: dict[int, _Field] = {}
        for entry in body.split(";"):
            parts = entry.split()
            type_text = parts[2] if len(parts) > 2 else "str"
            repeated = type_text.startswith("[")
            type_text = type_text.strip("[]")
            pointer, inline = type_text.endswith("?"), type_text.endswith("^")
            fields[int(parts[0])] = _Field(
                parts[1], type_text.rstrip("?^"), repeated, pointer, inline
            )
        messages[name.strip()] = fields
    return messages


MESSAGES = _parse_table(_MESSAGES)


class ProtobufError(Exception):
    """A body the simulated cluster cannot read."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, raw value) of every field of a message."""
    found = []
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type == 2:
            length, position = _varint(data, position)
            value = data[position : position + length]
            if len(value) != length:
                raise ProtobufError("truncated field")
            position += length
        elif wire_type == 1:
            value, position = data[position : position + 8], position + 8
        elif wire_type == 5:
            value, position = data[position : position + 4], position + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")
        found.append((number, wire_type, value))
    return found


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _zero(wire_type: int, value: Any) -> bool:
    if wire_type == 0:
        return bool(value == 0)
    if wire_type == 2:
        return len(value) == 0
    return not any(value)


def _scalar(kind: str, wire_type: int, value: Any) -> Any:
    if kind == "int":
        return _signed(value) if wire_type == 0 else int.from_bytes(value, "little", signed=True)
    if kind == "bool":
        return bool(value)
    if wire_type != 2:
        raise ProtobufError(f"expected bytes for a {kind}")
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "json":
        return json.loads(value or b"null")
    return value.decode("utf-8")


def _decode_value(field: _Field, wire_type: int, value: Any) -> Any:
    kind = field.type
    if kind in _SCALARS:
        return _scalar(kind, wire_type, value)
    if wire_type != 2:
        raise ProtobufError(f"expected a message for {field.name}")
    if kind == "time":
        seconds = _decode(value, "Time").get("seconds", 0)
        return (
            datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else None
        )
    if kind == "quantity":
        return _decode(value, "Quantity").get("string", "")
    if kind == "intstr":
        decoded = _decode(value, "IntOrString")
        return decoded.get("strVal", "") if decoded.get("type") == 1 else decoded.get("intVal", 0)
    if kind in ("map", "bytesmap", "qmap"):
        entry = {number: raw for number, _, raw in _fields(value)}
        key = bytes(entry.get(1, b"")).decode("utf-8")
        raw = bytes(entry.get(2, b""))
        if kind == "bytesmap":
            return key, base64.b64encode(raw).decode()
        if kind == "qmap":
            return key, _decode(raw, "Quantity").get("string", "")
        return key, raw.decode("utf-8")
    return _decode(value, kind)


def _decode(data: bytes, message: str) -> dict[str, Any]:
    fields = MESSAGES[message]
    result: dict[str, Any] = {}
    kept: set[str] = set()
    for number, wire_type, value in _fields(data):
        field = fields.get(number)
        if field is None:
            if not _zero(wire_type, value):
                raise ProtobufError(f"field {number} of {message} is not understood")
            continue
        if field.type == "ignore":
            continue
        if field.type in ("int", "bool") and wire_type == 2 and field.repeated:
            # A packed repeated scalar: varints back to back.
            position, items = 0, []
            while position < len(value):
                item, position = _varint(value, position)
                items.append(_scalar(field.type, 0, item))
            result.setdefault(field.name, []).extend(items)
            continue
        decoded = _decode_value(field, wire_type, value)
        if field.type in ("map", "bytesmap", "qmap"):
            key, item = decoded
            result.setdefault(field.name, {})[key] = item
        elif field.repeated:
            result.setdefault(field.name, []).append(decoded)
        elif field.inline and isinstance(decoded, dict):
            result.update(decoded)
        else:
            result[field.name] = decoded
        if field.pointer:
            kept.add(field.name)
    # Go leaves zero values out of JSON (omitempty), except what pointers set explicitly.
    return {
        name: value
        for name, value in result.items()
        if name in kept or value not in ("", 0, False, None, [])
    }


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object; ProtobufError if it cannot be read."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number")
    envelope = _decode(body[len(MAGIC) :], "Unknown")
    if envelope.get("contentEncoding"):
        raise ProtobufError(f"content encoding {envelope['contentEncoding']} is not supported")
    type_meta = envelope.get("typeMeta") or {}
    kind = str(type_meta.get("kind", ""))
    if kind not in _KINDS:
        raise ProtobufError(f"{kind or 'this kind'} is not read from protobuf")
    raw = base64.b64decode(envelope.get("raw", ""))
    obj = _decode(raw, kind)
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}


def protobuf_error(reason: str) -> ApiError:
    """415 for a protobuf body the simulated cluster cannot read, saying what to do instead."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the simulated cluster cannot read this protobuf (application/vnd.kubernetes.protobuf) "
        f"body: {reason}; send the object as YAML or JSON instead, e.g. with kubectl apply -f "
        "(kubectl create ... --dry-run=client -o yaml | kubectl apply -f -)",
    )
