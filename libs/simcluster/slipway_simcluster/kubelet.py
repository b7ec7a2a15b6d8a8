"""The simulated kubelet: schedules pods on the one simulated node, "pulls" and starts them.

A pod becomes Running and Ready `ready_delay` seconds after it is created when all of its
images are available to the simulated cluster. Otherwise its containers wait with
`ErrImagePull`, then `ImagePullBackOff`, retrying with a growing back-off (at once when an
image is loaded), and Warning events say why, as on a real node.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

from slipway_simcluster import networking
from slipway_simcluster.clone import clone
from slipway_simcluster.events import NORMAL, WARNING, EventRecorder
from slipway_simcluster.images import (
    ImagePullError,
    ImageRegistry,
    normalize_reference,
    pull_authorization,
    registry_location,
)
from slipway_simcluster.meta import now_rfc3339, parse_time
from slipway_simcluster.resources import PODS, SECRETS
from slipway_simcluster.store import ADDED, DELETED, Store, WatchEvent

log = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 16.0
_CONDITION_TYPES = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


def _restarts(pod: dict[str, Any]) -> bool:
    """True if the pod's containers restart when they exit (restartPolicy Always)."""
    return bool((pod.get("spec") or {}).get("restartPolicy", "Always") == "Always")


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def _condition(
    kind: str, status: bool, now: str, reason: str | None = None, message: str | None = None
) -> dict[str, Any]:
    condition: dict[str, Any] = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _set_conditions(status: dict[str, Any], wanted: list[dict[str, Any]]) -> None:
    """Replace conditions, keeping lastTransitionTime of those whose status did not change."""
    previous = {c.get("type"): c for c in status.get("conditions") or []}
    merged = []
    for condition in wanted:
        old = previous.get(condition["type"])
        if old is not None and old.get("status") == condition["status"]:
            condition["lastTransitionTime"] = old.get(
                "lastTransitionTime", condition["lastTransitionTime"]
            )
        merged.append(condition)
    order = {kind: index for index, kind in enumerate(_CONDITION_TYPES)}
    status["conditions"] = sorted(merged, key=lambda c: order.get(c["type"], 99))


class Kubelet:
    """Runs every pod of the simulated cluster on its single node."""

    def __init__(
        self,
        store: Store,
        images: ImageRegistry,
        recorder: EventRecorder,
        node_name: str,
        ready_delay: float,
    ) -> None:
        self._store = store
        self._last_ip_offset = 0  # where the last pod IP was found (the next search starts)
        self._images = images
        self._recorder = recorder
        self._node_name = node_name
        self._ready_delay = ready_delay
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ready_since: dict[str, float] = {}

    def start(self) -> None:
        """Resume every pod that was not running yet (after a restart)."""
        for pod in self._store.objects(PODS):
            self._ensure_running(pod)

    async def stop(self) -> None:
        """Stop every pod lifecycle task."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def on_event(self, event: WatchEvent) -> None:
        """Store listener: start lifecycles of new pods, stop those of deleted ones."""
        if event.resource.key != PODS.key:
            return
        uid = event.obj["metadata"].get("uid", "")
        if event.type == ADDED:
            self._ensure_running(event.obj)
        elif event.type == DELETED:
            task = self._tasks.pop(uid, None)
            if task is not None:
                task.cancel()
            self._ready_since.pop(uid, None)

    def ready_since(self, pod: dict[str, Any]) -> float | None:
        """When the pod became Ready (None if it is not Ready)."""
        uid = pod["metadata"].get("uid", "")
        if not networking.pod_is_ready(pod):
            return None
        if uid in self._ready_since:
            return self._ready_since[uid]
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Ready":
                return parse_time(condition.get("lastTransitionTime"))
        return None

    def _ensure_running(self, pod: dict[str, Any]) -> None:
        metadata = pod["metadata"]
        uid = metadata.get("uid", "")
        phase = (pod.get("status") or {}).get("phase")
        if uid in self._tasks or phase in ("Succeeded", "Failed"):
            return
        if phase == "Running" and _restarts(pod):
            return
        task = asyncio.get_running_loop().create_task(
            self._run(metadata.get("namespace", ""), metadata["name"], uid),
            name=f"simulated-kubelet-{metadata['name']}",
        )
        self._tasks[uid] = task
        task.add_done_callback(
            lambda _: self._tasks.pop(uid, None) if self._tasks.get(uid) is task else None
        )

    def _current(self, namespace: str, name: str, uid: str) -> dict[str, Any] | None:
        pod = self._store.peek(PODS, namespace, name)
        if pod is None or pod["metadata"].get("uid") != uid:
            return None
        return pod

    async def _run(self, namespace: str, name: str, uid: str) -> None:
        try:
            await self._lifecycle(namespace, name, uid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("simulated kubelet: pod %s/%s lifecycle failed", namespace, name)

    async def _lifecycle(self, namespace: str, name: str, uid: str) -> None:
        pod = self._current(namespace, name, uid)
        if pod is None:
            return
        if (pod.get("status") or {}).get("phase") != "Running":
            await self._pull_and_start(namespace, name, uid)
        pod = self._current(namespace, name, uid)
        if pod is not None and not _restarts(pod):
            # A container that does not restart (a Job's) runs for a moment and exits 0.
            await asyncio.sleep(self._ready_delay)
            pod = self._current(namespace, name, uid)
            if pod is not None:
                self._complete(pod)

    async def _pull_and_start(self, namespace: str, name: str, uid: str) -> None:
        pod = self._current(namespace, name, uid)
        if pod is None:
            return
        if not (pod.get("status") or {}).get("podIP"):
            self._schedule(pod)
        # The simulated time it takes to create the pod sandbox and look for the images.
        await asyncio.sleep(self._ready_delay)
        backoff, attempt = 1.0, 0
        pulled: dict[str, float] = {}  # reference -> seconds its pull took
        while True:
            pod = self._current(namespace, name, uid)
            if pod is None:
                return
            references = [c.get("image", "") for c in _containers(pod)]
            if attempt == 0:
                for container in _containers(pod):
                    self._event(
                        pod,
                        container,
                        NORMAL,
                        "Pulling",
                        f'Pulling image "{container.get("image")}"',
                    )
            missing: dict[str, str] = {}
            for ref in references:
                if (problem := await self._find_image(pod, ref, pulled)) is not None:
                    missing[ref] = problem
            pod = self._current(namespace, name, uid)
            if pod is None:
                return
            if not missing:
                self._start(pod, pulled)
                return
            attempt += 1
            self._pull_failed(pod, missing, "ErrImagePull")
            if await self._images.wait_for_load(min(1.0, backoff)):
                continue
            pod = self._current(namespace, name, uid)
            if pod is None:
                return
            self._pull_failed(pod, missing, "ImagePullBackOff")
            await self._images.wait_for_load(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _find_image(
        self, pod: dict[str, Any], reference: str, pulled: dict[str, float]
    ) -> str | None:
        """None when the node has the image (loaded, present, or pulled now from its loopback
        registry with the pod's pull secret, noted in `pulled`); else why not, as the pull
        error says it."""
        if self._images.find_loaded(reference) is not None or self._images.was_pulled(reference):
            return None
        location = registry_location(reference)
        if location is None:
            return (
                None if await self._images.is_available(reference) else self._pull_error(reference)
            )
        authorization = pull_authorization(self._pull_secrets(pod), location[0])
        started = time.monotonic()
        try:
            await self._images.pull(reference, authorization)
        except ImagePullError as error:
            return f'failed to pull and unpack image "{reference}": {error}'
        pulled[reference] = time.monotonic() - started
        return None

    def _pull_secrets(self, pod: dict[str, Any]) -> list[dict[str, Any]]:
        """The Secrets the pod names in `imagePullSecrets` that exist in its namespace."""
        namespace = pod["metadata"].get("namespace", "")
        named = [ref.get("name", "") for ref in pod["spec"].get("imagePullSecrets") or []]
        found = (self._store.peek(SECRETS, namespace, name) for name in named if name)
        return [secret for secret in found if secret is not None]

    def _schedule(self, pod: dict[str, Any]) -> None:
        now = now_rfc3339()
        updated = clone(pod)
        updated["spec"]["nodeName"] = self._node_name
        ip, self._last_ip_offset = networking.allocate_pod_ip(self._store, self._last_ip_offset)
        status = updated.setdefault("status", {})
        status.update(
            phase="Pending",
            hostIP=networking.NODE_IP,
            hostIPs=[{"ip": networking.NODE_IP}],
            podIP=ip,
            podIPs=[{"ip": ip}],
            startTime=now,
        )
        _set_conditions(
            status,
            [
                _condition("PodReadyToStartContainers", True, now),
                _condition("Initialized", True, now),
                _condition(
                    "Ready", False, now, "ContainersNotReady", self._not_ready_message(updated)
                ),
                _condition(
                    "ContainersReady",
                    False,
                    now,
                    "ContainersNotReady",
                    self._not_ready_message(updated),
                ),
                _condition("PodScheduled", True, now),
            ],
        )
        status["containerStatuses"] = [
            self._waiting_status(container, "ContainerCreating", None)
            for container in (updated["spec"].get("containers") or [])
        ]
        stored = self._store.replace(PODS, updated)
        namespace, name = stored["metadata"].get("namespace"), stored["metadata"]["name"]
        self._recorder.record(
            stored,
            NORMAL,
            "Scheduled",
            f"Successfully assigned {namespace}/{name} to {self._node_name}",
            "default-scheduler",
        )

    def _not_ready_message(self, pod: dict[str, Any]) -> str:
        names = " ".join(c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or [])
        return f"containers with unready status: [{names}]"

    def _waiting_status(
        self, container: dict[str, Any], reason: str, message: str | None
    ) -> dict[str, Any]:
        waiting: dict[str, Any] = {"reason": reason}
        if message:
            waiting["message"] = message
        return {
            "name": container.get("name", ""),
            "image": container.get("image", ""),
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "started": False,
            "state": {"waiting": waiting},
            "lastState": {},
        }

    def _pull_failed(self, pod: dict[str, Any], missing: dict[str, str], reason: str) -> None:
        updated = clone(pod)
        statuses = []
        for container in updated["spec"].get("containers") or []:
            image = container.get("image", "")
            if image in missing:
                if reason == "ErrImagePull":
                    message = missing[image]
                else:
                    message = f'Back-off pulling image "{image}": ErrImagePull: {missing[image]}'
                statuses.append(self._waiting_status(container, reason, message))
            else:
                statuses.append(self._waiting_status(container, "PodInitializing", None))
        updated["status"]["containerStatuses"] = statuses
        if updated != pod:
            self._store.replace(PODS, updated)
        for container in _containers(pod):
            image = container.get("image", "")
            if image not in missing:
                continue
            if reason == "ErrImagePull":
                message = f'Failed to pull image "{image}": {missing[image]}'
            else:
                message = f'Back-off pulling image "{image}"'
            self._event(pod, container, WARNING, reason, message)

    def _pull_error(self, image: str) -> str:
        where = "loaded into the simulated cluster"
        if self._images.docker_host:
            where += f" or present in the Docker Engine at {self._images.docker_host}"
        return f"simulated cluster: image {normalize_reference(image)} is not {where}"

    def _start(self, pod: dict[str, Any], pulled: dict[str, float] | None = None) -> None:
        now = now_rfc3339()
        updated = clone(pod)
        status = updated["status"]
        status["phase"] = "Running"
        statuses = []
        for container in updated["spec"].get("containers") or []:
            image = container.get("image", "")
            loaded = self._images.find_loaded(image)
            statuses.append(
                {
                    "name": container.get("name", ""),
                    "image": image,
                    "imageID": f"docker://{loaded.id}"
                    if loaded and loaded.id
                    else f"docker://{image}",
                    "containerID": f"docker://{secrets.token_hex(32)}",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                    "lastState": {},
                }
            )
        status["containerStatuses"] = statuses
        if updated["spec"].get("initContainers"):
            status["initContainerStatuses"] = [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "imageID": f"docker://{c.get('image', '')}",
                    "ready": True,
                    "restartCount": 0,
                    "started": False,
                    "state": {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": now,
                            "finishedAt": now,
                        }
                    },
                }
                for c in updated["spec"]["initContainers"]
            ]
        _set_conditions(
            status,
            [
                _condition("PodReadyToStartContainers", True, now),
                _condition("Initialized", True, now),
                _condition("Ready", True, now),
                _condition("ContainersReady", True, now),
                _condition("PodScheduled", True, now),
            ],
        )
        self._ready_since[pod["metadata"].get("uid", "")] = time.time()
        stored = self._store.replace(PODS, updated)
        for container in updated["spec"].get("containers") or []:
            image, name = container.get("image", ""), container.get("name", "")
            took = (pulled or {}).get(image)
            self._event(
                stored,
                container,
                NORMAL,
                "Pulled",
                f'Container image "{image}" already present on machine'
                if took is None
                else f'Successfully pulled image "{image}" in {took * 1000:.0f}ms',
            )
            self._event(stored, container, NORMAL, "Created", f"Created container: {name}")
            self._event(stored, container, NORMAL, "Started", f"Started container {name}")

    def _complete(self, pod: dict[str, Any]) -> None:
        """The pod's containers exited 0: phase Succeeded, no longer Ready."""
        now = now_rfc3339()
        updated = clone(pod)
        status = updated["status"]
        status["phase"] = "Succeeded"
        for container in status.get("containerStatuses") or []:
            started = ((container.get("state") or {}).get("running") or {}).get("startedAt", now)
            container.update(ready=False, started=False)
            container["state"] = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": started,
                    "finishedAt": now,
                    "containerID": container.get("containerID", ""),
                }
            }
        _set_conditions(
            status,
            [
                _condition("PodReadyToStartContainers", False, now),
                _condition("Initialized", True, now),
                _condition("Ready", False, now, "PodCompleted"),
                _condition("ContainersReady", False, now, "PodCompleted"),
                _condition("PodScheduled", True, now),
            ],
        )
        self._ready_since.pop(pod["metadata"].get("uid", ""), None)
        self._store.replace(PODS, updated)

    def _event(
        self, pod: dict[str, Any], container: dict[str, Any], kind: str, reason: str, message: str
    ) -> None:
        field_path = f"spec.containers{{{container.get('name', '')}}}"
        self._recorder.record(pod, kind, reason, message, "kubelet", field_path)
