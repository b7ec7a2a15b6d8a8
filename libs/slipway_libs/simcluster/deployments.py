"""The simulated deployment controller: Deployments into pods, rollouts and status.

It follows the real controller's rules without materialising ReplicaSets: pods of one pod
template form a group (labelled `pod-template-hash`, named `<deployment>-<hash>-<suffix>`,
owned by the Deployment) whose target size plays the ReplicaSet's `spec.replicas`.
Rolling updates respect maxSurge/maxUnavailable, Recreate replaces every pod, and the
status carries the replica counts and the Available/Progressing conditions, including
`ProgressDeadlineExceeded` when `spec.progressDeadlineSeconds` pass without progress.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

from slipway_libs.simcluster.errors import ApiError
from slipway_libs.simcluster.events import NORMAL, EventRecorder
from slipway_libs.simcluster.kubelet import Kubelet
from slipway_libs.simcluster.meta import now_rfc3339, parse_time, random_suffix
from slipway_libs.simcluster.registry import Registry
from slipway_libs.simcluster.resources import DEPLOYMENTS, PODS
from slipway_libs.simcluster.store import Store
from slipway_libs.simcluster.strategies import pod_template_hash, rolling_bounds

log = logging.getLogger(__name__)

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
COMPONENT = "deployment-controller"


def _count(status: dict[str, Any], field: str) -> int:
    return int(status.get(field) or 0)


class DeploymentController:
    """Reconciles one Deployment at a time (called by the controller manager's queue)."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        recorder: EventRecorder,
        kubelet: Kubelet,
        requeue_after: Callable[[str, str, float], None],
    ) -> None:
        self._store = store
        self._registry = registry
        self._recorder = recorder
        self._kubelet = kubelet
        self._requeue_after = requeue_after
        # deployment uid -> {template hash -> target pod count} (the ReplicaSets' replicas)
        self._targets: dict[str, dict[str, int]] = {}
        # deployment uid -> (template hash, revision)
        self._revisions: dict[str, tuple[str, int]] = {}
        # deployment uid -> (lastUpdateTime string, precise time) of the Progressing condition
        self._progress_at: dict[str, tuple[str, float]] = {}

    def forget(self, uid: str) -> None:
        """Drop bookkeeping of a deleted Deployment."""
        self._targets.pop(uid, None)
        self._revisions.pop(uid, None)
        self._progress_at.pop(uid, None)

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring the Deployment's pods and status in line with its spec."""
        deployment = self._store.peek(DEPLOYMENTS, namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        uid = deployment["metadata"]["uid"]
        spec = deployment.get("spec") or {}
        template_hash = pod_template_hash(spec.get("template") or {})
        revision, new_group = self._revision(deployment, template_hash)
        if not spec.get("paused"):
            self._rollout(deployment, template_hash)
        pods = self._store.owned_by(uid, PODS)
        self._write_status(deployment, template_hash, revision, new_group, pods)

    # Revisions: a new pod template is a new revision (a new ReplicaSet on a real cluster).

    def _revision(self, deployment: dict[str, Any], template_hash: str) -> tuple[int, bool]:
        uid = deployment["metadata"]["uid"]
        annotations = deployment["metadata"].get("annotations") or {}
        known = self._revisions.get(uid)
        if known is None:
            stored = annotations.get(REVISION_ANNOTATION)
            revision = int(stored) if stored and stored.isdigit() else 1
            self._revisions[uid] = (template_hash, revision)
            return revision, stored is None
        if known[0] == template_hash:
            return known[1], False
        revision = known[1] + 1
        self._revisions[uid] = (template_hash, revision)
        return revision, True

    # Rollout: set each pod group's target, then make the pods match.

    def _rollout(self, deployment: dict[str, Any], template_hash: str) -> None:
        uid = deployment["metadata"]["uid"]
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        groups = self._groups(uid)
        targets = self._targets.setdefault(uid, {})
        for group_hash, pods in groups.items():
            targets.setdefault(group_hash, len(pods))
        before = dict(targets)
        old_hashes = [h for h in targets if h != template_hash]
        # Old groups never grow back: a deleted old pod is not replaced mid-rollout.
        for old_hash in old_hashes:
            targets[old_hash] = min(targets[old_hash], len(groups.get(old_hash, [])))
        new_target = targets.get(template_hash, 0)
        if not any(targets[h] for h in old_hashes):
            new_target = desired
        elif (spec.get("strategy") or {}).get("type") == "Recreate":
            for old_hash in old_hashes:
                targets[old_hash] = 0
            new_target = desired
        else:
            new_target = self._rolling_step(deployment, template_hash, groups, targets, new_target)
        targets[template_hash] = new_target
        self._announce_scaling(deployment, before, targets)
        for group_hash in list(targets):
            self._converge_group(
                deployment,
                group_hash,
                groups.get(group_hash, []),
                targets[group_hash],
                template_hash,
            )
            if targets[group_hash] == 0 and group_hash != template_hash:
                del targets[group_hash]

    def _rolling_step(
        self,
        deployment: dict[str, Any],
        template_hash: str,
        groups: dict[str, list[dict[str, Any]]],
        targets: dict[str, int],
        new_target: int,
    ) -> int:
        desired = int(deployment["spec"].get("replicas", 1))
        surge, max_unavailable = rolling_bounds(deployment)
        old_hashes = [h for h in targets if h != template_hash]
        # Scale the new group up within maxSurge (or down if the deployment shrank).
        if new_target > desired:
            new_target = desired
        elif new_target < desired:
            total = new_target + sum(targets[h] for h in old_hashes)
            room = desired + surge - total
            if room > 0:
                new_target = min(desired, new_target + room)
        # Scale old groups down while at least desired - maxUnavailable pods stay available.
        min_available = desired - max_unavailable
        new_available = self._available(groups.get(template_hash, []), deployment)
        total = new_target + sum(targets[h] for h in old_hashes)
        budget = total - min_available - max(0, new_target - new_available)
        if budget <= 0:
            return new_target
        for old_hash in old_hashes:  # unhealthy old pods go first, they serve nothing
            unhealthy = targets[old_hash] - self._available(groups.get(old_hash, []), deployment)
            cut = min(budget, max(0, unhealthy))
            targets[old_hash] -= cut
            budget -= cut
        available_total = sum(self._available(pods, deployment) for pods in groups.values())
        removable = min(budget, available_total - min_available)
        for old_hash in old_hashes:
            if removable <= 0:
                break
            cut = min(removable, targets[old_hash])
            targets[old_hash] -= cut
            removable -= cut
        return new_target

    def _announce_scaling(
        self, deployment: dict[str, Any], before: dict[str, int], after: dict[str, int]
    ) -> None:
        name = deployment["metadata"]["name"]
        for group_hash, target in after.items():
            previous = before.get(group_hash, 0)
            if target == previous:
                continue
            direction = "up" if target > previous else "down"
            self._recorder.record(
                deployment,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {name}-{group_hash} from {previous} to {target}",
                COMPONENT,
            )

    def _groups(self, uid: str) -> dict[str, list[dict[str, Any]]]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for pod in self._store.owned_by(uid, PODS):
            labels = pod["metadata"].get("labels") or {}
            groups.setdefault(labels.get(HASH_LABEL, ""), []).append(pod)
        return groups

    def _converge_group(
        self,
        deployment: dict[str, Any],
        group_hash: str,
        pods: list[dict[str, Any]],
        target: int,
        template_hash: str,
    ) -> None:
        if len(pods) > target:
            for pod in self._deletion_order(pods)[: len(pods) - target]:
                self._store.delete(
                    PODS, pod["metadata"].get("namespace", ""), pod["metadata"]["name"]
                )
        elif len(pods) < target and group_hash == template_hash:
            for _ in range(target - len(pods)):
                self._create_pod(deployment, template_hash)

    def _deletion_order(self, pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Pods to delete first: not yet running, then not ready, then the youngest."""

        def rank(pod: dict[str, Any]) -> tuple[int, float]:
            status = pod.get("status") or {}
            if status.get("phase") != "Running":
                state = 0
            elif self._kubelet.ready_since(pod) is None:
                state = 1
            else:
                state = 2
            created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
            return (state, -created)

        return sorted(pods, key=rank)

    def _create_pod(self, deployment: dict[str, Any], template_hash: str) -> None:
        metadata = deployment["metadata"]
        template = copy.deepcopy(deployment["spec"].get("template") or {})
        template_metadata = template.get("metadata") or {}
        labels = dict(template_metadata.get("labels") or {})
        labels[HASH_LABEL] = template_hash
        pod_metadata: dict[str, Any] = {
            "namespace": metadata.get("namespace", ""),
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": DEPLOYMENTS.api_version,
                    "kind": DEPLOYMENTS.kind,
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if template_metadata.get("annotations"):
            pod_metadata["annotations"] = dict(template_metadata["annotations"])
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": pod_metadata,
            "spec": template.get("spec") or {},
        }
        for _ in range(5):
            pod_metadata["name"] = f"{metadata['name']}-{template_hash}-{random_suffix()}"
            try:
                self._registry.create(PODS, metadata.get("namespace", ""), pod)
                return
            except ApiError as error:
                if error.reason != "AlreadyExists":
                    log.warning(
                        "simulated deployment controller: cannot create pod: %s", error.message
                    )
                    return

    # Status.

    def _available(self, pods: list[dict[str, Any]], deployment: dict[str, Any]) -> int:
        min_ready = int((deployment.get("spec") or {}).get("minReadySeconds") or 0)
        now = time.time()
        count = 0
        for pod in pods:
            since = self._kubelet.ready_since(pod)
            if since is not None and now - since >= min_ready:
                count += 1
        return count

    def _write_status(
        self,
        deployment: dict[str, Any],
        template_hash: str,
        revision: int,
        new_group: bool,
        pods: list[dict[str, Any]],
    ) -> None:
        spec = deployment.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        new_pods = [
            p for p in pods if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == template_hash
        ]
        ready = sum(1 for p in pods if self._kubelet.ready_since(p) is not None)
        available = self._available(pods, deployment)
        counts = {
            "replicas": len(pods),
            "updatedReplicas": len(new_pods),
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(0, len(pods) - available),
        }
        old_status = deployment.get("status") or {}
        status: dict[str, Any] = {
            "observedGeneration": int(deployment["metadata"].get("generation", 1))
        }
        # A real API server omits zero counts (omitempty); clients must treat absent as 0.
        status.update({field: value for field, value in counts.items() if value})
        if old_status.get("collisionCount"):
            status["collisionCount"] = old_status["collisionCount"]
        conditions = {c.get("type"): dict(c) for c in old_status.get("conditions") or []}
        uid = deployment["metadata"]["uid"]
        now_text = now_rfc3339()
        self._set_available(conditions, deployment, available, desired, now_text)
        self._set_progressing(
            conditions, deployment, template_hash, new_group, old_status, counts, now_text
        )
        status["conditions"] = [
            conditions[t] for t in ("Available", "Progressing") if t in conditions
        ]
        updated = copy.deepcopy(deployment)
        updated["status"] = status
        annotations = updated["metadata"].setdefault("annotations", {})
        annotations[REVISION_ANNOTATION] = str(revision)
        if updated != deployment:
            self._store.replace(DEPLOYMENTS, updated)
        self._schedule_followups(deployment, pods, conditions.get("Progressing"), uid)

    def _set_available(
        self,
        conditions: dict[str, dict[str, Any]],
        deployment: dict[str, Any],
        available: int,
        desired: int,
        now: str,
    ) -> None:
        strategy = (deployment.get("spec") or {}).get("strategy") or {}
        max_unavailable = rolling_bounds(deployment)[1] if strategy.get("type") != "Recreate" else 0
        if available >= desired - max_unavailable:
            wanted = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            wanted = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        _set_condition(conditions, "Available", *wanted, now)

    def _set_progressing(
        self,
        conditions: dict[str, dict[str, Any]],
        deployment: dict[str, Any],
        template_hash: str,
        new_group: bool,
        old_status: dict[str, Any],
        counts: dict[str, int],
        now: str,
    ) -> None:
        spec = deployment.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        group = f"{deployment['metadata']['name']}-{template_hash}"
        uid = deployment["metadata"]["uid"]
        current = conditions.get("Progressing")
        if spec.get("paused"):
            _set_condition(
                conditions,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                now,
            )
            return
        complete = (
            counts["updatedReplicas"]
            == counts["replicas"]
            == counts["availableReplicas"]
            == desired
        )
        old_old = _count(old_status, "replicas") - _count(old_status, "updatedReplicas")
        new_old = counts["replicas"] - counts["updatedReplicas"]
        progressed = (
            counts["updatedReplicas"] > _count(old_status, "updatedReplicas")
            or new_old < old_old
            or counts["readyReplicas"] > _count(old_status, "readyReplicas")
            or counts["availableReplicas"] > _count(old_status, "availableReplicas")
        )
        touched = False
        if complete:
            touched = _set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{group}" has successfully progressed.',
                now,
            )
        elif new_group:
            touched = _set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                f'Created new replica set "{group}"',
                now,
                touch=True,
            )
        elif progressed or current is None:
            touched = _set_condition(
                conditions,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{group}" is progressing.',
                now,
                touch=True,
            )
        elif self._timed_out(uid, current, spec):
            touched = _set_condition(
                conditions,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{group}" has timed out progressing.',
                now,
            )
        if touched:
            self._progress_at[uid] = (now, time.time())

    def _last_progress(self, uid: str, condition: dict[str, Any]) -> float | None:
        stamp = condition.get("lastUpdateTime")
        precise = self._progress_at.get(uid)
        if precise is not None and precise[0] == stamp:
            return precise[1]
        return parse_time(stamp)

    def _timed_out(self, uid: str, condition: dict[str, Any], spec: dict[str, Any]) -> bool:
        if condition.get("reason") == "NewReplicaSetAvailable":
            return False
        if condition.get("reason") == "ProgressDeadlineExceeded":
            return True
        started = self._last_progress(uid, condition)
        deadline = spec.get("progressDeadlineSeconds")
        if started is None or deadline is None:
            return False
        return time.time() > started + int(deadline)

    def _schedule_followups(
        self,
        deployment: dict[str, Any],
        pods: list[dict[str, Any]],
        progressing: dict[str, Any] | None,
        uid: str,
    ) -> None:
        """Come back when the progress deadline passes or a pod's minReadySeconds elapse."""
        namespace, name = (
            deployment["metadata"].get("namespace", ""),
            deployment["metadata"]["name"],
        )
        spec = deployment.get("spec") or {}
        now = time.time()
        waits: list[float] = []
        deadline = spec.get("progressDeadlineSeconds")
        if (
            progressing is not None
            and progressing.get("status") == "True"
            and progressing.get("reason") != "NewReplicaSetAvailable"
            and deadline is not None
        ):
            started = self._last_progress(uid, progressing)
            if started is not None:
                waits.append(started + int(deadline) - now + 0.05)
        min_ready = int(spec.get("minReadySeconds") or 0)
        if min_ready:
            for pod in pods:
                since = self._kubelet.ready_since(pod)
                if since is not None and now - since < min_ready:
                    waits.append(since + min_ready - now + 0.05)
        if waits:
            self._requeue_after(namespace, name, max(0.05, min(waits)))


def _set_condition(
    conditions: dict[str, dict[str, Any]],
    kind: str,
    status: str,
    reason: str,
    message: str,
    now: str,
    *,
    touch: bool = False,
) -> bool:
    """Set a condition as the real controller does; True if lastUpdateTime was set to now.

    Unchanged status and reason keep their timestamps, unless `touch` (progress was made)
    refreshes lastUpdateTime.
    """
    current = conditions.get(kind)
    if current is not None and current.get("status") == status and current.get("reason") == reason:
        if touch:
            current["lastUpdateTime"] = now
            current["message"] = message
        return touch
    transition = now
    if current is not None and current.get("status") == status:
        transition = current.get("lastTransitionTime", now)
    conditions[kind] = {
        "type": kind,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }
    return True
