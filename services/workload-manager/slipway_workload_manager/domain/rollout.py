"""What the live objects say: a Deployment's rollout and a Service's readiness (pure).

The functions take objects as the Kubernetes API returns them (JSON dicts, camelCase) and
never call the cluster. Zero counts are absent from a real API server's status
(`omitempty`), so every count defaults to 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .ports import RolloutObservation, ServiceObservation

PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
NO_READY_ENDPOINTS = "no ready endpoints yet"
WAITING_FOR_LOAD_BALANCER = (
    "waiting for a load-balancer address; on minikube this needs `minikube tunnel`"
)

# Why a container cannot start, most telling first. ErrImagePull carries the registry's
# own error; ImagePullBackOff only says that Kubernetes is waiting to try again.
_PROBLEM_PRIORITY = {
    "ErrImagePull": 0,
    "InvalidImageName": 0,
    "ErrImageNeverPull": 0,
    "CreateContainerConfigError": 0,
    "CreateContainerError": 0,
    "RunContainerError": 0,
    "CrashLoopBackOff": 1,
    "ImagePullBackOff": 2,
}
_OTHER_WARNING = 3
# Waiting reasons of a container that is simply starting, not failing.
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    for condition in _list(status.get("conditions")):
        if _mapping(condition).get("type") == kind:
            return _mapping(condition)
    return {}


def _event_time(event: Mapping[str, Any]) -> str:
    # RFC 3339 UTC timestamps sort as text; events.k8s.io-style events set eventTime only.
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or _mapping(event.get("metadata")).get("creationTimestamp")
        or ""
    )


def _event_problem(event: Mapping[str, Any]) -> tuple[int, str, str] | None:
    if event.get("type") != "Warning":
        return None
    reason = str(event.get("reason") or "")
    message = str(event.get("message") or "")
    # The kubelet reports a failed pull as reason "Failed"; name it as the pod status does.
    if reason == "Failed" and message.startswith("Failed to pull image"):
        reason = "ErrImagePull"
    return _PROBLEM_PRIORITY.get(reason, _OTHER_WARNING), reason, message


def _status_problems(pod: Mapping[str, Any]) -> Iterable[tuple[int, str, str]]:
    status = _mapping(pod.get("status"))
    for container in _list(status.get("containerStatuses")):
        waiting = _mapping(_mapping(_mapping(container).get("state")).get("waiting"))
        reason = str(waiting.get("reason") or "")
        if reason and reason not in _STARTING:
            yield (
                _PROBLEM_PRIORITY.get(reason, _OTHER_WARNING),
                reason,
                str(waiting.get("message") or ""),
            )


def _is_ready(pod: Mapping[str, Any]) -> bool:
    return _condition(_mapping(pod.get("status")), "Ready").get("status") == "True"


def pod_problem(
    pods: Sequence[Mapping[str, Any]], events: Sequence[Mapping[str, Any]] = ()
) -> str | None:
    """The most telling reason why a Deployment's pods are not ready, as `Reason: message`.

    Looks at the Warning events about the given pods that are not ready, and at the
    waiting reasons of their containers. Events about pods that are ready now, or no
    longer exist, are history, not the current problem. An image pull error outranks a crash loop, which
    outranks a pull back-off; between equals, an event (which names the image) wins over
    a container status, and a newer event over an older one.
    """
    pods = [pod for pod in pods if not _is_ready(pod)]
    names = {str(_mapping(pod.get("metadata")).get("name")) for pod in pods}
    ranked: list[tuple[int, int, str, str, str]] = []
    for event in events:
        involved = _mapping(event.get("involvedObject"))
        if involved.get("kind", "Pod") != "Pod" or str(involved.get("name")) not in names:
            continue
        problem = _event_problem(event)
        if problem is not None:
            priority, reason, message = problem
            ranked.append((priority, 0, _event_time(event), reason, message))
    for pod in pods:
        for priority, reason, message in _status_problems(pod):
            ranked.append((priority, 1, "", reason, message))
    if not ranked:
        return None
    best_priority = min(item[0] for item in ranked)
    candidates = [item for item in ranked if item[0] == best_priority]
    best_source = min(item[1] for item in candidates)
    _, _, _, reason, message = max(
        (item for item in candidates if item[1] == best_source), key=lambda item: item[2]
    )
    return f"{reason}: {message}" if message else reason


def interpret_deployment(
    live: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]] = (),
    events: Sequence[Mapping[str, Any]] = (),
) -> RolloutObservation:
    """A live Deployment (None when it does not exist) as a RolloutObservation.

    `available`: the controller has seen the current spec (observedGeneration >=
    generation) and every desired replica is updated and available, with no old replica
    left. `failed`: the controller has seen the current spec and its Progressing condition
    says ProgressDeadlineExceeded (a condition about an older spec says nothing about this
    one). `progressing` otherwise. `pods` and their `events` only feed the reason.
    """
    if live is None:
        return RolloutObservation(phase="missing", reason="the Deployment does not exist")
    metadata = _mapping(live.get("metadata"))
    spec = _mapping(live.get("spec"))
    status = _mapping(live.get("status"))
    desired = _int(spec.get("replicas")) if "replicas" in spec else 1
    containers = _list(_mapping(_mapping(spec.get("template")).get("spec")).get("containers"))
    current = RolloutObservation(
        phase="progressing",
        desired=desired,
        available=_int(status.get("availableReplicas")),
        ready=_int(status.get("readyReplicas")),
        updated=_int(status.get("updatedReplicas")),
        live_replicas=desired,
        live_image=str(_mapping(containers[0]).get("image")) if containers else None,
    )
    if metadata.get("deletionTimestamp"):
        return replace(current, phase="missing", reason="the Deployment is being deleted")
    observed = _int(status.get("observedGeneration")) >= _int(metadata.get("generation"))
    if (
        observed
        and current.available == desired
        and current.updated == desired
        and _int(status.get("replicas")) == desired  # no old replica left
    ):
        return replace(current, phase="available")
    problem = pod_problem(pods, events)
    progressing = _condition(status, "Progressing")
    if (
        observed
        and progressing.get("status") == "False"
        and progressing.get("reason") == PROGRESS_DEADLINE_EXCEEDED
    ):
        message = str(progressing.get("message") or "").rstrip(".")
        reason = (
            f"{PROGRESS_DEADLINE_EXCEEDED}: {message}" if message else PROGRESS_DEADLINE_EXCEEDED
        )
        if problem:
            reason = f"{reason}; {problem}"
        return replace(current, phase="failed", reason=reason)
    return replace(current, reason=problem)


def rollout_failure(observation: RolloutObservation, where: str, timeout_s: float) -> str:
    """Why a rollout that the cluster did not report available failed (`where` is the
    Deployment's `namespace/name`, `timeout_s` how long it was watched)."""
    if observation.phase == "failed":
        return observation.reason or "the rollout failed"
    if observation.phase == "missing":
        return f"Deployment {where} disappeared from the cluster during the rollout"
    why = f": {observation.reason}" if observation.reason else ""
    return (
        f"rollout did not finish within {timeout_s:.0f} s "
        f"({observation.available}/{observation.desired} replicas available){why}"
    )


def _endpoint_addresses(endpoints: Mapping[str, Any] | None, key: str) -> list[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for subset in map(_mapping, _list(_mapping(endpoints).get("subsets"))):
        ports = [_int(_mapping(port).get("port")) for port in _list(subset.get("ports"))]
        for address in map(_mapping, _list(subset.get(key))):
            if address.get("ip"):
                found.update((str(address["ip"]), port) for port in ports or [0])
    return sorted(found)


def interpret_service(
    live: Mapping[str, Any] | None, endpoints: Mapping[str, Any] | None
) -> ServiceObservation:
    """A live Service and its Endpoints as a ServiceObservation.

    `active` when it has ready endpoint addresses (and, for a LoadBalancer, an ingress
    address as well); `pending` with the reason otherwise. Endpoints read `ip:port`.
    """
    if live is None:
        return ServiceObservation(phase="missing", reason="the Service does not exist")
    spec = _mapping(live.get("spec"))
    status = _mapping(live.get("status"))
    ports = [_mapping(port) for port in _list(spec.get("ports"))]
    first = ports[0] if ports else {}
    node_port = _int(first.get("nodePort"))
    target = first.get("targetPort")
    cluster_ip = spec.get("clusterIP")
    ingress = sorted(
        str(entry.get("ip") or entry.get("hostname"))
        for entry in map(_mapping, _list(_mapping(status.get("loadBalancer")).get("ingress")))
        if entry.get("ip") or entry.get("hostname")
    )
    ready = _endpoint_addresses(endpoints, "addresses")
    current = ServiceObservation(
        phase="pending",
        cluster_ip=str(cluster_ip) if cluster_ip and cluster_ip != "None" else None,
        node_port=node_port or None,
        ingress=ingress,
        endpoints=[f"{ip}:{port}" if port else ip for ip, port in ready],
        live_port=_int(first.get("port")) or None,
        live_target_port=_int(target) or None,
    )
    if _mapping(live.get("metadata")).get("deletionTimestamp"):
        return replace(current, phase="missing", reason="the Service is being deleted")
    if spec.get("type") == "LoadBalancer" and not ingress:
        return replace(current, reason=WAITING_FOR_LOAD_BALANCER)
    if not ready:
        waiting = {ip for ip, _ in _endpoint_addresses(endpoints, "notReadyAddresses")}
        reason = NO_READY_ENDPOINTS
        if waiting:
            reason = f"{NO_READY_ENDPOINTS} ({len(waiting)} pod(s) not ready)"
        return replace(current, reason=reason)
    return replace(current, phase="active")
