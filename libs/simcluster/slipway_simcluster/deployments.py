"""The simulated deployment and replica-set controllers.

They follow the real controllers' rules: each pod template of a Deployment gets a
ReplicaSet `<deployment>-<pod-template-hash>` carrying a revision; rolling updates move
ReplicaSet sizes within maxSurge/maxUnavailable (Recreate empties the old ones first);
each ReplicaSet keeps its pods at its size (a deleted pod is replaced); old ReplicaSets
stay scaled to zero up to `revisionHistoryLimit`, so `kubectl rollout history/undo` work.
The Deployment status carries the replica counts and the Available/Progressing conditions,
including `ProgressDeadlineExceeded` when `spec.progressDeadlineSeconds` pass without
progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.errors import ApiError
from slipway_simcluster.events import NORMAL, EventRecorder
from slipway_simcluster.kubelet import Kubelet
from slipway_simcluster.meta import now_rfc3339, parse_time, random_suffix
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import DEPLOYMENTS, PODS, REPLICASETS
from slipway_simcluster.store import Store
from slipway_simcluster.strategies import pod_template_hash, rolling_bounds

log = logging.getLogger(__name__)

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
COMPONENT = "deployment-controller"
Object = dict[str, Any]


def _count(status: Object, field: str) -> int:
    return int(status.get(field) or 0)


def _revision(replica_set: Object) -> int:
    text = (replica_set["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(text) if str(text).isdigit() else 0


def _owner_reference(owner: Object, kind: str) -> Object:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


class DeploymentController:
    """Reconciles one Deployment, its ReplicaSets and their pods (called from the work queue)."""

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
        # deployment uid -> (lastUpdateTime text, precise time) of its Progressing condition
        self._progress_at: dict[str, tuple[str, float]] = {}

    def forget(self, uid: str) -> None:
        """Drop bookkeeping of a deleted Deployment."""
        self._progress_at.pop(uid, None)

    def reconcile(self, namespace: str, name: str) -> None:
        """Bring the Deployment's ReplicaSets, pods and status in line with its spec."""
        deployment = self._store.peek(DEPLOYMENTS, namespace, name)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        spec = deployment.get("spec") or {}
        template_hash = pod_template_hash(spec.get("template") or {})
        new_rs_name = f"{name}-{template_hash}"
        found = ""
        if not spec.get("paused"):
            found = self._ensure_new_replica_set(deployment, template_hash)
            if found == "blocked":
                self._requeue_after(namespace, name, 0.1)
                return
            self._rollout(deployment, new_rs_name)
        for replica_set in self._replica_sets(deployment):
            self._sync_replica_set(replica_set["metadata"]["name"], namespace)
        self._clean_up_history(deployment, new_rs_name)
        self._write_status(deployment, new_rs_name, found)

    def _replica_sets(self, deployment: Object) -> list[Object]:
        return self._store.owned_by(deployment["metadata"]["uid"], REPLICASETS)

    # The new ReplicaSet: one per pod template, carrying the newest revision.

    def _ensure_new_replica_set(self, deployment: Object, template_hash: str) -> str:
        """Create or adopt the ReplicaSet of the current template.

        Returns "created", "found" (an older ReplicaSet is current again, as after
        `kubectl rollout undo`), "blocked" (its name is still held by a ReplicaSet being
        garbage-collected) or "" (nothing changed).
        """
        metadata = deployment["metadata"]
        namespace, name = metadata.get("namespace", ""), f"{metadata['name']}-{template_hash}"
        owned = self._replica_sets(deployment)
        newest = max((_revision(rs) for rs in owned), default=0)
        current = self._store.peek(REPLICASETS, namespace, name)
        if current is not None:
            owners = [r.get("uid") for r in current["metadata"].get("ownerReferences") or []]
            if owners and metadata["uid"] not in owners:
                return "blocked"
            if not owners or _revision(current) < newest:
                updated = clone(current)
                annotations = updated["metadata"].setdefault("annotations", {})
                if _revision(current) < newest:
                    annotations[REVISION] = str(newest + 1)
                updated["metadata"]["ownerReferences"] = [
                    _owner_reference(deployment, "Deployment")
                ]
                self._store.replace(REPLICASETS, updated)
                return "found"
            return ""
        spec = deployment.get("spec") or {}
        template = clone(spec.get("template") or {})
        template_metadata = template.setdefault("metadata", {})
        labels = {**(template_metadata.get("labels") or {}), HASH_LABEL: template_hash}
        template_metadata["labels"] = labels
        selector = clone(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: template_hash}
        surge, _ = rolling_bounds(deployment)
        desired = int(spec.get("replicas", 1))
        self._store.create(
            REPLICASETS,
            {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": dict(labels),
                    "annotations": {
                        DESIRED_REPLICAS: str(desired),
                        MAX_REPLICAS: str(desired + surge),
                        REVISION: str(newest + 1),
                    },
                    "ownerReferences": [_owner_reference(deployment, "Deployment")],
                    "generation": 1,
                },
                "spec": {
                    "replicas": 0,
                    "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                    "selector": selector,
                    "template": template,
                },
                "status": {"replicas": 0},
            },
        )
        return "created"

    # Rollout: decide every ReplicaSet's size.

    def _rollout(self, deployment: Object, new_rs_name: str) -> None:
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        replica_sets = {rs["metadata"]["name"]: rs for rs in self._replica_sets(deployment)}
        if new_rs_name not in replica_sets:
            return
        targets = {name: int(rs["spec"].get("replicas", 0)) for name, rs in replica_sets.items()}
        available = {
            name: self._available(self._pods_of(rs), deployment)
            for name, rs in replica_sets.items()
        }
        old = sorted(
            (n for n in targets if n != new_rs_name), key=lambda n: _revision(replica_sets[n])
        )
        if not any(targets[n] for n in old):
            targets[new_rs_name] = desired
        elif (spec.get("strategy") or {}).get("type") == "Recreate":
            for name in old:
                targets[name] = 0
            targets[new_rs_name] = desired
        else:
            self._rolling_step(deployment, new_rs_name, old, targets, available)
        surge, _ = rolling_bounds(deployment)
        for name, target in targets.items():
            self._scale(deployment, replica_sets[name], target, desired, surge)

    def _rolling_step(
        self,
        deployment: Object,
        new_rs_name: str,
        old: list[str],
        targets: dict[str, int],
        available: dict[str, int],
    ) -> None:
        desired = int(deployment["spec"].get("replicas", 1))
        surge, max_unavailable = rolling_bounds(deployment)
        # Grow the new ReplicaSet within maxSurge (or shrink it if the Deployment shrank).
        new_target = targets[new_rs_name]
        if new_target > desired:
            new_target = desired
        elif new_target < desired:
            room = desired + surge - sum(targets.values())
            if room > 0:
                new_target = min(desired, new_target + room)
        targets[new_rs_name] = new_target
        # Shrink old ReplicaSets while desired - maxUnavailable pods stay available.
        min_available = desired - max_unavailable
        new_unavailable = max(0, new_target - available[new_rs_name])
        budget = sum(targets.values()) - min_available - new_unavailable
        if budget <= 0:
            return
        for name in old:  # unhealthy old pods first: they serve nothing
            cut = min(budget, max(0, targets[name] - available[name]))
            targets[name] -= cut
            budget -= cut
        removable = min(budget, sum(available.values()) - min_available)
        for name in old:
            if removable <= 0:
                break
            cut = min(removable, targets[name])
            targets[name] -= cut
            removable -= cut

    def _scale(
        self, deployment: Object, replica_set: Object, target: int, desired: int, surge: int
    ) -> None:
        current = int(replica_set["spec"].get("replicas", 0))
        annotations = replica_set["metadata"].get("annotations") or {}
        wanted_annotations = {DESIRED_REPLICAS: str(desired), MAX_REPLICAS: str(desired + surge)}
        if current == target and all(
            annotations.get(k) == v for k, v in wanted_annotations.items()
        ):
            return
        updated = clone(replica_set)
        updated["metadata"].setdefault("annotations", {}).update(wanted_annotations)
        if current != target:
            updated["spec"]["replicas"] = target
            updated["metadata"]["generation"] = int(updated["metadata"].get("generation", 1)) + 1
        self._store.replace(REPLICASETS, updated)
        if current != target:
            direction = "up" if target > current else "down"
            self._recorder.record(
                deployment,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {replica_set['metadata']['name']} from {current} to {target}",
                COMPONENT,
            )

    # The ReplicaSet controller: pods match the ReplicaSet's size.

    def _pods_of(self, replica_set: Object) -> list[Object]:
        return self._store.owned_by(replica_set["metadata"]["uid"], PODS)

    def _sync_replica_set(self, name: str, namespace: str) -> None:
        replica_set = self._store.peek(REPLICASETS, namespace, name)
        if replica_set is None:
            return
        target = int(replica_set["spec"].get("replicas", 0))
        pods = self._pods_of(replica_set)
        if len(pods) > target:
            for pod in self._deletion_order(pods)[: len(pods) - target]:
                self._store.delete(PODS, namespace, pod["metadata"]["name"])
        for _ in range(target - len(pods)):
            self._create_pod(replica_set)
        pods = self._pods_of(replica_set)
        status: Object = {"replicas": len(pods)}
        counts = {
            "fullyLabeledReplicas": len(pods),
            "readyReplicas": sum(1 for p in pods if self._kubelet.ready_since(p) is not None),
            "availableReplicas": self._available(pods, replica_set),
            "observedGeneration": int(replica_set["metadata"].get("generation", 1)),
        }
        status.update({field: value for field, value in counts.items() if value})
        if replica_set.get("status") != status:
            updated = clone(replica_set)
            updated["status"] = status
            self._store.replace(REPLICASETS, updated)

    def _deletion_order(self, pods: list[Object]) -> list[Object]:
        """Pods to delete first: not yet running, then not ready, then the youngest."""

        def rank(pod: Object) -> tuple[int, float]:
            if (pod.get("status") or {}).get("phase") != "Running":
                state = 0
            elif self._kubelet.ready_since(pod) is None:
                state = 1
            else:
                state = 2
            created = parse_time(pod["metadata"].get("creationTimestamp")) or 0.0
            return (state, -created)

        return sorted(pods, key=rank)

    def _create_pod(self, replica_set: Object) -> None:
        metadata = replica_set["metadata"]
        template = clone(replica_set["spec"].get("template") or {})
        template_metadata = template.get("metadata") or {}
        pod_metadata: Object = {
            "namespace": metadata.get("namespace", ""),
            "labels": dict(template_metadata.get("labels") or {}),
            "ownerReferences": [_owner_reference(replica_set, "ReplicaSet")],
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
            pod_metadata["name"] = f"{metadata['name']}-{random_suffix()}"
            try:
                self._registry.create(PODS, metadata.get("namespace", ""), pod)
                return
            except ApiError as error:
                if error.reason != "AlreadyExists":
                    log.warning(
                        "simulated replica-set controller: cannot create pod: %s", error.message
                    )
                    return

    def _available(self, pods: list[Object], owner: Object) -> int:
        min_ready = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
        now = time.time()
        count = 0
        for pod in pods:
            since = self._kubelet.ready_since(pod)
            if since is not None and now - since >= min_ready:
                count += 1
        return count

    def _clean_up_history(self, deployment: Object, new_rs_name: str) -> None:
        """Delete old, empty ReplicaSets beyond `revisionHistoryLimit`."""
        limit = int((deployment.get("spec") or {}).get("revisionHistoryLimit", 10))
        empty = [
            rs
            for rs in self._replica_sets(deployment)
            if rs["metadata"]["name"] != new_rs_name
            and not rs["spec"].get("replicas")
            and not self._pods_of(rs)
        ]
        empty.sort(key=_revision)
        for replica_set in empty[: max(0, len(empty) - limit)]:
            self._store.delete(
                REPLICASETS,
                replica_set["metadata"].get("namespace", ""),
                replica_set["metadata"]["name"],
            )

    # Deployment status.

    def _write_status(self, deployment: Object, new_rs_name: str, found: str) -> None:
        deployment = (
            self._store.peek(
                DEPLOYMENTS,
                deployment["metadata"].get("namespace", ""),
                deployment["metadata"]["name"],
            )
            or deployment
        )
        spec = deployment.get("spec") or {}
        desired = int(spec.get("replicas", 1))
        replica_sets = self._replica_sets(deployment)
        pods = [pod for rs in replica_sets for pod in self._pods_of(rs)]
        new_rs = next((rs for rs in replica_sets if rs["metadata"]["name"] == new_rs_name), None)
        new_pods = self._pods_of(new_rs) if new_rs is not None else []
        available = self._available(pods, deployment)
        counts = {
            "replicas": len(pods),
            "updatedReplicas": len(new_pods),
            "readyReplicas": sum(1 for p in pods if self._kubelet.ready_since(p) is not None),
            "availableReplicas": available,
            "unavailableReplicas": max(0, len(pods) - available),
        }
        old_status = deployment.get("status") or {}
        status: Object = {"observedGeneration": int(deployment["metadata"].get("generation", 1))}
        # A real API server omits zero counts (omitempty); clients must treat absent as 0.
        status.update({field: value for field, value in counts.items() if value})
        conditions = {c.get("type"): dict(c) for c in old_status.get("conditions") or []}
        now = now_rfc3339()
        self._set_available(conditions, deployment, available, desired, now)
        self._set_progressing(conditions, deployment, new_rs_name, found, old_status, counts, now)
        status["conditions"] = [
            conditions[t] for t in ("Available", "Progressing") if t in conditions
        ]
        # Shallow copies of what changes: the store copies the object it keeps.
        updated = {**deployment, "status": status, "metadata": dict(deployment["metadata"])}
        if new_rs is not None:
            annotations = dict(updated["metadata"].get("annotations") or {})
            annotations[REVISION] = str(_revision(new_rs))
            updated["metadata"]["annotations"] = annotations
        if updated != deployment:
            self._store.replace(DEPLOYMENTS, updated)
        self._schedule_followups(deployment, pods, conditions.get("Progressing"))

    def _set_available(
        self,
        conditions: dict[str, Object],
        deployment: Object,
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
        conditions: dict[str, Object],
        deployment: Object,
        new_rs_name: str,
        found: str,
        old_status: Object,
        counts: dict[str, int],
        now: str,
    ) -> None:
        spec = deployment.get("spec") or {}
        desired = int(spec.get("replicas", 1))
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
        old_before = _count(old_status, "replicas") - _count(old_status, "updatedReplicas")
        old_now = counts["replicas"] - counts["updatedReplicas"]
        progressed = (
            counts["updatedReplicas"] > _count(old_status, "updatedReplicas")
            or old_now < old_before
            or counts["readyReplicas"] > _count(old_status, "readyReplicas")
            or counts["availableReplicas"] > _count(old_status, "availableReplicas")
        )
        if complete:
            wanted = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{new_rs_name}" has successfully progressed.',
            )
            touched = _set_condition(conditions, "Progressing", *wanted, now)
        elif found == "created":
            wanted = ("True", "NewReplicaSetCreated", f'Created new replica set "{new_rs_name}"')
            touched = _set_condition(conditions, "Progressing", *wanted, now, touch=True)
        elif found == "found":
            wanted = ("True", "FoundNewReplicaSet", f'Found new replica set "{new_rs_name}"')
            touched = _set_condition(conditions, "Progressing", *wanted, now, touch=True)
        elif progressed or current is None:
            wanted = ("True", "ReplicaSetUpdated", f'ReplicaSet "{new_rs_name}" is progressing.')
            touched = _set_condition(conditions, "Progressing", *wanted, now, touch=True)
        elif self._timed_out(uid, current, spec):
            wanted = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{new_rs_name}" has timed out progressing.',
            )
            touched = _set_condition(conditions, "Progressing", *wanted, now)
        else:
            touched = False
        if touched:
            self._progress_at[uid] = (now, time.time())

    def _last_progress(self, uid: str, condition: Object) -> float | None:
        stamp = condition.get("lastUpdateTime")
        precise = self._progress_at.get(uid)
        if precise is not None and precise[0] == stamp:
            return precise[1]
        return parse_time(stamp)

    def _timed_out(self, uid: str, condition: Object, spec: Object) -> bool:
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
        self, deployment: Object, pods: list[Object], progressing: Object | None
    ) -> None:
        """Come back when the progress deadline passes or a pod's minReadySeconds elapse."""
        metadata = deployment["metadata"]
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
            started = self._last_progress(metadata["uid"], progressing)
            if started is not None:
                waits.append(started + int(deadline) - now + 0.05)
        min_ready = int(spec.get("minReadySeconds") or 0)
        if min_ready:
            for pod in pods:
                since = self._kubelet.ready_since(pod)
                if since is not None and now - since < min_ready:
                    waits.append(since + min_ready - now + 0.05)
        if waits:
            self._requeue_after(
                metadata.get("namespace", ""), metadata["name"], max(0.05, min(waits))
            )


def _set_condition(
    conditions: dict[str, Object],
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
