"""The workload-manager's advisors, free of I/O: a Deployment's diagnosis (kubectl-ai's
role), resource recommendations and a cluster's health summary (kagent's role).

They read what the workload-manager already holds (its Deployments, Services, Releases,
the projected images and clusters) and what the cluster says (pods, their events, usage),
and are deterministic: the same inputs, the same advice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway_contracts.advice import (
    ClusterHealth,
    Diagnosis,
    EntityCounts,
    HealthProblem,
    ResourceAdvice,
)
from slipway_contracts.entities import Deployment, DeploymentUsage, Release, Resources, Service
from slipway_workload_manager.domain.projections import ProjectedCluster, ProjectedImage
from slipway_workload_manager.domain.usage import cpu_cores, memory_bytes

Json = Mapping[str, Any]
RESTARTS_FOR_A_CRASH_LOOP = 3
IMAGE_PULL = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)


@dataclass(frozen=True)
class Observed:
    """What was seen of one Deployment: its image and cluster as projected, its pods and
    their events (empty when the cluster could not be asked), its Services, and what could
    not be looked at."""

    image: ProjectedImage | None
    cluster: ProjectedCluster | None
    pods: Sequence[Json] = ()
    events: Sequence[Json] = ()
    services: Sequence[Service] = ()
    notes: list[str] = field(default_factory=list)


def _m(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _name(obj: Json) -> str:
    return str(_m(obj.get("metadata")).get("name") or "")


def _containers(pod: Json) -> list[Json]:
    return [_m(c) for c in _m(pod.get("status")).get("containerStatuses") or []]


def _waiting(pod: Json) -> list[tuple[str, str]]:
    return [
        (str(w.get("reason") or ""), str(w.get("message") or ""))
        for c in _containers(pod)
        if (w := _m(_m(c.get("state")).get("waiting")))
    ]


def _warnings(events: Sequence[Json], *reasons: str) -> list[Json]:
    return [e for e in events if e.get("type") == "Warning" and e.get("reason") in reasons]


def _event_line(event: Json) -> str:
    involved = _m(event.get("involvedObject"))
    return f"event {event.get('reason')} on pod {involved.get('name')}: {event.get('message')}"


def _kubectl(namespace: str, *words: str) -> str:
    return " ".join(["kubectl", "-n", namespace, *words])


def _image_load(deployment: Deployment, observed: Observed) -> list[Diagnosis]:
    reason = deployment.reason or ""
    image = observed.image
    gone = "no longer exists in the Docker Engine" in reason or reason.startswith(
        "image load failed"
    )
    image_failed = image is not None and image.status == "failed"
    if not (gone or image_failed):
        return []
    evidence = [f"deployment status: {deployment.status}"]
    if reason:
        evidence.append(f"deployment reason: {reason}")
    if image is not None:
        evidence.append(f"image {image.name}:{image.tag} status: {image.status}")
        if image.reason:
            evidence.append(f"image reason: {image.reason}")
    name, tag = (image.name, image.tag) if image else (deployment.image or "IMAGE:TAG", "")
    reference = f"{name}:{tag}" if tag else name
    return [
        Diagnosis(
            cause="image_load_failed",
            summary=f"the image {reference} is no longer in the Docker Engine, so it could not "
            "be loaded into the cluster",
            evidence=evidence,
            fix="rebuild the image (the same name and tag), then roll the deployment out "
            f"again (PUT /api/deployments/{deployment.id} with its spec)",
            suggested_command=(
                f"slipway images build <context> --name {name} --tag {tag or 'TAG'} --wait"
            ),
        )
    ]


def _cluster(deployment: Deployment, observed: Observed) -> list[Diagnosis]:
    cluster = observed.cluster
    if cluster is None or cluster.running:
        return []
    return [
        Diagnosis(
            cause="cluster_not_running",
            summary=f"the cluster {cluster.name} is {cluster.status}",
            evidence=[f"cluster status: {cluster.status}"]
            + ([f"cluster reason: {cluster.reason}"] if cluster.reason else []),
            fix="start the cluster; Slipway rolls its deployments out again when it runs",
            suggested_command=f"slipway clusters start {cluster.name}",
        )
    ]


def _image_pull(deployment: Deployment, observed: Observed) -> list[Diagnosis]:
    evidence = [
        f"pod {_name(pod)}: {reason}" + (f" ({message})" if message else "")
        for pod in observed.pods
        for reason, message in _waiting(pod)
        if reason in IMAGE_PULL
    ]
    evidence += [
        _event_line(e)
        for e in _warnings(observed.events, "Failed", "ErrImagePull")
        if "pull" in str(e.get("message", "")).lower()
    ]
    if not evidence:
        return []
    pod = next((_name(p) for p in observed.pods), "POD")
    return [
        Diagnosis(
            cause="image_pull_failed",
            summary=f"the cluster cannot pull the image {deployment.image}",
            evidence=evidence,
            fix="check the image's name and tag; a local image is loaded into the cluster by "
            "Slipway (rebuild it if it was removed), a pushed one needs its registry reachable "
            "from the cluster and its credentials (registry_auth)",
            suggested_command=_kubectl(deployment.namespace, "describe", "pod", pod),
        )
    ]


def _crash_loop(deployment: Deployment, observed: Observed) -> list[Diagnosis]:
    found: list[Diagnosis] = []
    for pod in observed.pods:
        for container in _containers(pod):
            restarts = int(container.get("restartCount") or 0)
            waiting = _m(_m(container.get("state")).get("waiting"))
            last = _m(_m(container.get("lastState")).get("terminated"))
            looping = waiting.get("reason") == "CrashLoopBackOff"
            if not looping and restarts < RESTARTS_FOR_A_CRASH_LOOP:
                continue
            evidence = [f"pod {_name(pod)}: {restarts} restarts"]
            if looping:
                evidence.append(f"pod {_name(pod)}: CrashLoopBackOff")
            if last:
                evidence.append(
                    f"last exit: code {last.get('exitCode')} ({last.get('reason') or 'Error'})"
                )
            oom = last.get("reason") == "OOMKilled"
            found.append(
                Diagnosis(
                    cause="out_of_memory" if oom else "crash_loop",
                    summary=(
                        "the container is killed for using more memory than its limit"
                        if oom
                        else "the container keeps exiting and is restarted"
                    ),
                    evidence=evidence,
                    fix=(
                        f"raise resources.limits.memory (now {deployment.resources.limits.memory}); "
                        f"GET /api/advice/deployments/{deployment.id}/resources recommends one"
                        if oom
                        else "read the logs of the previous run, fix the application or its "
                        "configuration (env, command), then roll it out again"
                    ),
                    suggested_command=_kubectl(
                        deployment.namespace, "logs", _name(pod), "--previous"
                    ),
                )
            )
            return found  # one pod tells the story
    return found


def _probes(deployment: Deployment, observed: Observed) -> list[Diagnosis]:
    failing = [
        e
        for e in _warnings(observed.events, "Unhealthy")
        if "probe failed" in str(e.get("message", "")).lower()
    ]
    if not failing:
        return []
    probe = deployment.probe
    checked = f"HTTP GET {probe.path}" if probe.path else "a TCP connection"
    return [
        Diagnosis(
            cause="probe_failed",
            summary=f"the liveness or readiness probe fails ({checked} on port "
            f"{deployment.container_port})",
            evidence=[_event_line(e) for e in failing[:5]],
            fix="make the application listen on container_port "
            f"({deployment.container_port}) and answer the probe; if it starts slowly, raise "
            "probe.initial_delay_seconds or failure_threshold",
            suggested_command=_kubectl(
                deployment.namespace, "describe", "pod", _name(observed.pods[0])
            )
            if observed.pods
            else None,
        )
    ]


def _pending(deployment: Deployment, observed: Observed) -> list[Diagnosis]:
    events = _warnings(observed.events, "FailedScheduling")
    unschedulable = [
        _name(pod)
        for pod in observed.pods
        for condition in _m(pod.get("status")).get("conditions") or []
        if _m(condition).get("type") == "PodScheduled"
        and _m(condition).get("reason") == "Unschedulable"
    ]
    if not events and not unschedulable:
        return []
    requests = deployment.resources.requests
    return [
        Diagnosis(
            cause="pending_resources",
            summary="pods cannot be scheduled: no node has room for them",
            evidence=[_event_line(e) for e in events[:5]]
            + [f"pod {name}: PodScheduled False (Unschedulable)" for name in unschedulable],
            fix=f"lower the requests (now cpu {requests.cpu}, memory {requests.memory}) or the "
            "replicas, or give the cluster more cpus/memory",
            suggested_command=_kubectl(
                deployment.namespace, "get", "events", "--field-selector", "reason=FailedScheduling"
            ),
        )
    ]


def _services(deployment: Deployment, observed: Observed) -> list[Diagnosis]:
    found = []
    for service in observed.services:
        if service.endpoints:
            continue
        found.append(
            Diagnosis(
                cause="service_no_endpoints",
                summary=f"the Service {service.name} has no endpoints: its selector matches no "
                "ready pod",
                evidence=[
                    f"service {service.name} status: {service.status}",
                    f"deployment ready replicas: {deployment.ready_replicas}/{deployment.replicas}",
                ]
                + ([f"service reason: {service.reason}"] if service.reason else []),
                fix="make the Deployment's pods ready (see the other diagnoses); the Service "
                f"targets port {service.target_port}, which must be the container port",
                suggested_command=_kubectl(deployment.namespace, "get", "endpoints", service.name),
                severity="warning" if service.status == "pending" else "error",
            )
        )
    return found


def _rollout(deployment: Deployment, known: list[Diagnosis]) -> list[Diagnosis]:
    if deployment.status != "failed" or known:
        return []
    return [
        Diagnosis(
            cause="rollout_failed",
            summary="the rollout failed",
            evidence=[f"deployment reason: {deployment.reason}"],
            fix="read the reason and the pods' events, fix the cause, then roll it out again",
            suggested_command=_kubectl(
                deployment.namespace, "describe", "deployment", deployment.name
            ),
        )
    ]


def diagnose(deployment: Deployment, observed: Observed) -> list[Diagnosis]:
    """Every cause found, worst first (errors, then warnings); none for a healthy one."""
    found: list[Diagnosis] = []
    for rule in (_cluster, _image_load, _image_pull, _crash_loop, _probes, _pending):
        found += rule(deployment, observed)
    found += _rollout(deployment, found)
    found += _services(deployment, observed)
    return sorted(found, key=lambda d: d.severity != "error")


# --- resources ---------------------------------------------------------------------

HEADROOM = 1.3  # requests: the busiest pod's use plus 30 %
TARGET_UTILISATION = 0.7  # of the cpu request, as a HorizontalPodAutoscaler would aim
MIN_CPU_M = 10
MIN_MEMORY_MI = 16


def _millicores(cores: float) -> str:
    return f"{max(MIN_CPU_M, math.ceil(cores * 1000 / 5) * 5)}m"


def _mebibytes(size: float) -> str:
    return f"{max(MIN_MEMORY_MI, math.ceil(size / 2**20))}Mi"


def recommend(
    deployment: Deployment, usage: DeploymentUsage | None, pods: Sequence[Json]
) -> ResourceAdvice:
    """Requests from the busiest pod's use plus headroom, limits twice that (at least what
    is set when it was enough), replicas so each pod's cpu sits near 70 % of its request,
    and more memory for a container killed for memory (its rollout history)."""
    current = deployment.resources
    reasoning: list[str] = []
    recommended = current.model_copy(deep=True)
    replicas = deployment.replicas
    oom = any(
        _m(_m(c.get("lastState")).get("terminated")).get("reason") == "OOMKilled"
        for pod in pods
        for c in _containers(pod)
    )
    if usage is None or not usage.pods:
        reasoning.append(
            "no usage observed (the cluster serves no metrics API, or the deployment is not "
            "running): requests and limits kept as they are"
        )
    else:
        peak_cpu = max(cpu_cores(p.cpu) for p in usage.pods)
        peak_memory = max(memory_bytes(p.memory) for p in usage.pods)
        cpu_request = _millicores(peak_cpu * HEADROOM)
        memory_request = _mebibytes(peak_memory * HEADROOM)
        recommended = Resources.model_validate(
            {
                "requests": {"cpu": cpu_request, "memory": memory_request},
                "limits": {
                    "cpu": _millicores(max(cpu_cores(cpu_request) * 2, peak_cpu * 2)),
                    "memory": _mebibytes(max(memory_bytes(memory_request) * 2, peak_memory * 2)),
                },
            }
        )
        reasoning.append(
            f"busiest pod uses cpu {_millicores(peak_cpu)} and memory {_mebibytes(peak_memory)} "
            f"(observed {usage.observed_at.isoformat()}): requests are that plus 30 %, limits "
            "twice the requests"
        )
        request_cpu = cpu_cores(current.requests.cpu)
        if request_cpu > 0:
            total = cpu_cores(usage.cpu)
            utilisation = total / (request_cpu * max(1, len(usage.pods)))
            wanted = max(1, math.ceil(len(usage.pods) * utilisation / TARGET_UTILISATION))
            replicas = min(max(wanted, 1), max(deployment.replicas * 2, 1))
            reasoning.append(
                f"pods use {utilisation:.0%} of their cpu request on average; to sit near "
                f"{TARGET_UTILISATION:.0%}: {replicas} replica(s)"
            )
    if oom:
        doubled = _mebibytes(memory_bytes(recommended.limits.memory) * 2)
        recommended = recommended.model_copy(
            update={"limits": recommended.limits.model_copy(update={"memory": doubled})}
        )
        reasoning.append("a container was OOMKilled: the memory limit is doubled")
    if replicas == 1:
        reasoning.append("a single replica is down during every rollout or node loss; 2 keep it up")
        replicas = 2
    return ResourceAdvice(
        id=deployment.id,
        name=deployment.name,
        current=current,
        recommended=recommended,
        replicas=deployment.replicas,
        recommended_replicas=replicas,
        usage=usage,
        reasoning=reasoning,
        changed=recommended != current or replicas != deployment.replicas,
    )


# --- cluster health ----------------------------------------------------------------


def _problem(
    kind: str, entity: Deployment | Service | Release, severity: str, message: str
) -> HealthProblem:
    return HealthProblem.model_validate(
        {
            "kind": kind,
            "id": entity.id,
            "name": entity.name,
            "status": str(entity.status),
            "severity": severity,
            "message": message,
        }
    )


def _deployment_problems(items: Sequence[Deployment]) -> list[HealthProblem]:
    found = []
    for d in items:
        if d.status == "failed":
            found.append(_problem("deployment", d, "error", d.reason or "the rollout failed"))
        elif d.status == "running" and d.available_replicas < d.replicas:
            found.append(
                _problem(
                    "deployment",
                    d,
                    "warning",
                    f"{d.available_replicas}/{d.replicas} replicas available",
                )
            )
        elif d.status in ("pending", "updating"):
            found.append(_problem("deployment", d, "warning", f"rollout in progress ({d.status})"))
        if d.drift:
            found.append(_problem("deployment", d, "warning", f"drifted: {d.drift}"))
    return found


def _service_problems(items: Sequence[Service]) -> list[HealthProblem]:
    found = []
    for s in items:
        if s.status == "failed":
            found.append(_problem("service", s, "error", s.reason or "no ready endpoints"))
        elif s.status == "pending":
            found.append(_problem("service", s, "warning", s.reason or "no ready endpoints yet"))
        if s.drift:
            found.append(_problem("service", s, "warning", f"drifted: {s.drift}"))
    return found


def _release_problems(items: Sequence[Release]) -> list[HealthProblem]:
    found = []
    for r in items:
        if r.status == "failed":
            found.append(_problem("release", r, "error", r.reason or "helm failed"))
        elif r.status in ("pending", "updating"):
            found.append(
                _problem("release", r, "warning", f"helm operation in progress ({r.status})")
            )
    return found


def _counts(total: int, problems: Sequence[HealthProblem], kind: str) -> EntityCounts:
    troubled = {p.id for p in problems if p.kind == kind}
    return EntityCounts(total=total, healthy=total - len(troubled))


def cluster_health(
    cluster: ProjectedCluster,
    deployments: Sequence[Deployment],
    services: Sequence[Service],
    releases: Sequence[Release],
) -> ClusterHealth:
    """Every entity on the cluster, its problems worst first (errors before warnings;
    the cluster, then deployments, services, releases)."""
    problems: list[HealthProblem] = []
    if not cluster.running:
        problems.append(
            HealthProblem(
                kind="cluster",
                id=cluster.id,
                name=cluster.name,
                status=cluster.status,
                severity="error",
                message=cluster.reason or f"the cluster is {cluster.status}",
            )
        )
    problems += _deployment_problems(deployments)
    problems += _service_problems(services)
    problems += _release_problems(releases)
    problems.sort(key=lambda p: p.severity != "error")
    return ClusterHealth(
        id=cluster.id,
        name=cluster.name,
        status=cluster.status,
        healthy=not problems,
        deployments=_counts(len(deployments), problems, "deployment"),
        services=_counts(len(services), problems, "service"),
        releases=_counts(len(releases), problems, "release"),
        problems=problems,
    )
