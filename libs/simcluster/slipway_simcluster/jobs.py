"""The simulated Job and CronJob controllers.

A Job runs `parallelism` pods at a time until `completions` of them succeed (the simulated
kubelet lets a pod that does not restart succeed after a short run), then gets the
`SuccessCriteriaMet` and `Complete` conditions; more than `backoffLimit` failed pods fail
it. `ttlSecondsAfterFinished` deletes it after it finishes. A CronJob creates a Job at
each time its schedule names (UTC), following its concurrency policy, and keeps
`successfulJobsHistoryLimit`/`failedJobsHistoryLimit` finished Jobs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.cron import CronSchedule, CronSyntaxError
from slipway_simcluster.errors import ApiError
from slipway_simcluster.events import NORMAL, WARNING, EventRecorder
from slipway_simcluster.kubelet import Kubelet
from slipway_simcluster.meta import now_rfc3339, parse_time
from slipway_simcluster.podtemplates import create_pod, is_terminal, owner_reference
from slipway_simcluster.registry import Registry
from slipway_simcluster.resources import CRONJOBS, JOBS, PODS
from slipway_simcluster.store import Store

log = logging.getLogger(__name__)
SCHEDULED_AT = "batch.kubernetes.io/cronjob-scheduled-timestamp"
Object = dict[str, Any]
Requeue = Callable[[str, str, float], None]


def _phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def finished(job: Object) -> str | None:
    """ "Complete" or "Failed" once a Job has finished, else None."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def _condition(kind: str, reason: str, message: str, now: str) -> Object:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


class JobController:
    """Reconciles one Job (called from the controller manager's work queue)."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        recorder: EventRecorder,
        kubelet: Kubelet,
        requeue_after: Requeue,
    ) -> None:
        self._store = store
        self._registry = registry
        self._recorder = recorder
        self._kubelet = kubelet
        self._requeue_after = requeue_after

    def reconcile(self, namespace: str, name: str) -> None:
        """Run the Job's pods, then record its outcome."""
        job = self._store.peek(JOBS, namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        if finished(job):
            self._expire(job)
            return
        spec = job.get("spec") or {}
        pods = self._store.owned_by(job["metadata"]["uid"], PODS)
        succeeded = sum(1 for pod in pods if _phase(pod) == "Succeeded")
        failed = sum(1 for pod in pods if _phase(pod) == "Failed")
        active = [pod for pod in pods if not is_terminal(pod)]
        completions = spec.get("completions")
        now = now_rfc3339()
        outcome: list[Object] = []
        if spec.get("suspend"):
            self._delete(active)
            active = []
        elif (completions is not None and succeeded >= int(completions)) or (
            completions is None and succeeded and not active
        ):
            self._delete(active)
            active = []
            message = "Reached expected number of succeeded pods"
            outcome = [
                _condition("SuccessCriteriaMet", "CompletionsReached", message, now),
                _condition("Complete", "CompletionsReached", message, now),
            ]
            self._recorder.record(job, NORMAL, "Completed", "Job completed", "job-controller")
        elif failed > int(spec.get("backoffLimit", 6)):
            self._delete(active)
            active = []
            message = "Job has reached the specified backoff limit"
            outcome = [
                _condition("FailureTarget", "BackoffLimitExceeded", message, now),
                _condition("Failed", "BackoffLimitExceeded", message, now),
            ]
            self._recorder.record(job, WARNING, "BackoffLimitExceeded", message, "job-controller")
        else:
            parallelism = int(spec.get("parallelism", 1))
            wanted = (
                parallelism
                if completions is None
                else min(parallelism, int(completions) - succeeded)
            )
            for _ in range(max(0, wanted - len(active))):
                pod = create_pod(self._registry, job, spec.get("template"))
                if pod is not None:
                    active.append(pod)
                    self._recorder.record(
                        job,
                        NORMAL,
                        "SuccessfulCreate",
                        f"Created pod: {pod['metadata']['name']}",
                        "job-controller",
                    )
        self._write_status(job, active, succeeded, failed, outcome, now)
        if outcome:
            self._expire(self._store.peek(JOBS, namespace, name) or job)

    def _delete(self, pods: list[Object]) -> None:
        for pod in pods:
            metadata = pod["metadata"]
            if self._store.peek(PODS, metadata.get("namespace", ""), metadata["name"]):
                self._store.delete(PODS, metadata.get("namespace", ""), metadata["name"])

    def _write_status(
        self,
        job: Object,
        active: list[Object],
        succeeded: int,
        failed: int,
        outcome: list[Object],
        now: str,
    ) -> None:
        old = job.get("status") or {}
        status: Object = {}
        suspended = bool((job.get("spec") or {}).get("suspend"))
        if old.get("startTime") or not suspended:
            status["startTime"] = old.get("startTime") or now
        counts = {"active": len(active), "succeeded": succeeded, "failed": failed}
        status.update({field: value for field, value in counts.items() if value})
        status["ready"] = sum(1 for pod in active if self._kubelet.ready_since(pod) is not None)
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}
        conditions = [
            c
            for c in old.get("conditions") or []
            if c.get("type") not in {o["type"] for o in outcome}
        ]
        conditions += outcome
        if conditions:
            status["conditions"] = conditions
        if any(c["type"] == "Complete" for c in outcome):
            status["completionTime"] = now
        if old != status:
            updated = clone(job)
            updated["status"] = status
            self._store.replace(JOBS, updated)

    def _expire(self, job: Object) -> None:
        """Delete a finished Job once `ttlSecondsAfterFinished` passed (its pods follow)."""
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        status = job.get("status") or {}
        ended = parse_time(status.get("completionTime")) or max(
            (
                parse_time(c.get("lastTransitionTime")) or 0.0
                for c in status.get("conditions") or []
            ),
            default=0.0,
        )
        remaining = ended + int(ttl) - datetime.now(UTC).timestamp()
        metadata = job["metadata"]
        if remaining > 0:
            self._requeue_after(metadata.get("namespace", ""), metadata["name"], remaining)
            return
        with contextlib.suppress(ApiError):
            self._registry.delete(JOBS, metadata.get("namespace", ""), metadata["name"])


class CronJobController:
    """Reconciles one CronJob (called from the controller manager's work queue)."""

    def __init__(
        self, store: Store, registry: Registry, recorder: EventRecorder, requeue_after: Requeue
    ) -> None:
        self._store = store
        self._registry = registry
        self._recorder = recorder
        self._requeue_after = requeue_after

    def reconcile(self, namespace: str, name: str, now: datetime | None = None) -> None:
        """Create the Job that is due, trim the history, write the status, wait for the next."""
        cronjob = self._store.peek(CRONJOBS, namespace, name)
        if cronjob is None or cronjob["metadata"].get("deletionTimestamp"):
            return
        spec = cronjob.get("spec") or {}
        now = now or datetime.now(UTC)
        try:
            schedule = CronSchedule.parse(str(spec.get("schedule", "")))
        except CronSyntaxError as error:
            self._recorder.record(
                cronjob, WARNING, "UnparseableSchedule", str(error), "cronjob-controller"
            )
            return
        status = cronjob.get("status") or {}
        last = parse_time(status.get("lastScheduleTime")) or parse_time(
            cronjob["metadata"].get("creationTimestamp")
        )
        since = datetime.fromtimestamp(last, UTC) if last else now - timedelta(minutes=1)
        due = schedule.latest_between(since, now)
        if due is not None and not spec.get("suspend") and self._run(cronjob, spec, due):
            status = {**status, "lastScheduleTime": now_rfc3339(due.timestamp())}
        self._trim(cronjob, spec)
        self._write_status(cronjob, status)
        upcoming = schedule.next_after(now)
        if upcoming is not None:
            self._requeue_after(namespace, name, max(0.5, (upcoming - now).total_seconds()))

    def _jobs(self, cronjob: Object) -> list[Object]:
        return self._store.owned_by(cronjob["metadata"]["uid"], JOBS)

    def _run(self, cronjob: Object, spec: Object, due: datetime) -> bool:
        active = [job for job in self._jobs(cronjob) if not finished(job)]
        policy = spec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and active:
            return False
        if policy == "Replace":
            for job in active:
                self._registry.delete(
                    JOBS,
                    job["metadata"].get("namespace", ""),
                    job["metadata"]["name"],
                    {"propagationPolicy": "Background"},
                )
        template = clone(spec.get("jobTemplate") or {})
        template_metadata = template.get("metadata") or {}
        name = f"{cronjob['metadata']['name']}-{int(due.timestamp()) // 60}"
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "labels": dict(template_metadata.get("labels") or {}),
                "annotations": {
                    **(template_metadata.get("annotations") or {}),
                    SCHEDULED_AT: due.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                "ownerReferences": [owner_reference(cronjob)],
            },
            "spec": template.get("spec") or {},
        }
        namespace = cronjob["metadata"].get("namespace", "")
        try:
            self._registry.create(JOBS, namespace, job)
        except ApiError as error:
            if error.reason != "AlreadyExists":
                self._recorder.record(
                    cronjob, WARNING, "FailedCreate", error.message, "cronjob-controller"
                )
                return False
            return True
        self._recorder.record(
            cronjob, NORMAL, "SuccessfulCreate", f"Created job {name}", "cronjob-controller"
        )
        return True

    def _trim(self, cronjob: Object, spec: Object) -> None:
        for outcome, field, default in (
            ("Complete", "successfulJobsHistoryLimit", 3),
            ("Failed", "failedJobsHistoryLimit", 1),
        ):
            done = [job for job in self._jobs(cronjob) if finished(job) == outcome]
            done.sort(key=lambda j: j["metadata"].get("creationTimestamp", ""))
            for job in done[: max(0, len(done) - int(spec.get(field, default)))]:
                self._registry.delete(
                    JOBS,
                    job["metadata"].get("namespace", ""),
                    job["metadata"]["name"],
                    {"propagationPolicy": "Background"},
                )

    def _write_status(self, cronjob: Object, status: Object) -> None:
        jobs = self._jobs(cronjob)
        active = [
            {
                "kind": "Job",
                "namespace": job["metadata"].get("namespace", ""),
                "name": job["metadata"]["name"],
                "uid": job["metadata"]["uid"],
                "apiVersion": "batch/v1",
            }
            for job in jobs
            if not finished(job)
        ]
        new_status = {k: v for k, v in status.items() if k not in ("active", "lastSuccessfulTime")}
        if active:
            new_status["active"] = active
        successes = [
            str((job.get("status") or {}).get("completionTime"))
            for job in jobs
            if finished(job) == "Complete" and (job.get("status") or {}).get("completionTime")
        ]
        if successes:
            new_status["lastSuccessfulTime"] = max(successes)
        elif status.get("lastSuccessfulTime"):
            new_status["lastSuccessfulTime"] = status["lastSuccessfulTime"]
        current = self._store.peek(
            CRONJOBS, cronjob["metadata"].get("namespace", ""), cronjob["metadata"]["name"]
        )
        if current is not None and current.get("status") != new_status:
            updated = clone(current)
            updated["status"] = new_status
            self._store.replace(CRONJOBS, updated)
