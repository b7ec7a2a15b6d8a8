"""The simulated disruption controller: each PodDisruptionBudget's status counts the
healthy pods it selects and how many of them may be disrupted."""

from __future__ import annotations

import math
from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.kubelet import Kubelet
from slipway_simcluster.meta import LabelSelector, now_rfc3339
from slipway_simcluster.podtemplates import is_terminal
from slipway_simcluster.resources import POD_DISRUPTION_BUDGETS, PODS
from slipway_simcluster.store import Store

Object = dict[str, Any]


def _count(value: Any, total: int, round_up: bool) -> int:
    text = str(value)
    if text.endswith("%"):
        scaled = total * int(text[:-1] or 0) / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    return int(text) if text.lstrip("-").isdigit() else 0


class DisruptionController:
    """Recomputes the status of every PodDisruptionBudget in a namespace."""

    def __init__(self, store: Store, kubelet: Kubelet) -> None:
        self._store = store
        self._kubelet = kubelet

    def reconcile_namespace(self, namespace: str) -> None:
        """Write each budget's counts and its DisruptionAllowed condition."""
        pods = [p for p in self._store.objects(PODS, namespace) if not is_terminal(p)]
        for budget in list(self._store.objects(POD_DISRUPTION_BUDGETS, namespace)):
            self._sync(budget, pods)

    def _sync(self, budget: Object, pods: list[Object]) -> None:
        spec = budget.get("spec") or {}
        selector = LabelSelector.from_object(spec.get("selector"))
        selected = [
            pod
            for pod in pods
            if spec.get("selector") is not None
            and selector.matches((pod.get("metadata") or {}).get("labels"))
        ]
        expected = len(selected)
        healthy = sum(1 for pod in selected if self._kubelet.ready_since(pod) is not None)
        if spec.get("maxUnavailable") is not None:
            desired = max(0, expected - _count(spec["maxUnavailable"], expected, round_up=True))
        else:
            desired = _count(spec.get("minAvailable", 1), expected, round_up=True)
        allowed = max(0, healthy - desired)
        old = budget.get("status") or {}
        condition = {
            "type": "DisruptionAllowed",
            "status": "True" if allowed else "False",
            "reason": "SufficientPods" if allowed else "InsufficientPods",
            "message": "",
            "observedGeneration": int(budget["metadata"].get("generation", 1)),
            "lastTransitionTime": now_rfc3339(),
        }
        for previous in old.get("conditions") or []:
            if (
                previous.get("type") == "DisruptionAllowed"
                and previous.get("status") == condition["status"]
            ):
                condition["lastTransitionTime"] = previous.get("lastTransitionTime")
        status = {
            "observedGeneration": int(budget["metadata"].get("generation", 1)),
            "disruptionsAllowed": allowed,
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "conditions": [condition],
        }
        if old != status:
            updated = clone(budget)
            updated["status"] = status
            self._store.replace(POD_DISRUPTION_BUDGETS, updated)
