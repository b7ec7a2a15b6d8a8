"""Alert: what Prometheus raised and Alertmanager delivered, free of I/O.

Alerts are owned by the cluster-manager: Slipway's operations-facing service, and the one
whose entities most alerts are about. An alert is one entity per Alertmanager fingerprint
(its label set): it is `firing` or `resolved`, resolves, and may fire again. Alertmanager
repeats what it already sent: a delivery that says nothing new changes nothing (no event).
The alert names the Slipway entity it is about by a label (`deployment_id`, `cluster_id`,
…): only the id is kept, never a read of another service's data.
"""

from __future__ import annotations

from typing import Self

from slipway_contracts.commands import ReceivedAlert
from slipway_contracts.entities import (
    ALERT_ENTITY_LABELS,
    ALERT_TRANSITIONS,
    Alert,
    AlertStatus,
)
from slipway_libs.aggregate import Aggregate, Change
from slipway_libs.statemachine import TransitionTable


def linked_entity(labels: dict[str, str]) -> tuple[str | None, str | None]:
    """The (kind, id) of the Slipway entity the labels name; (None, None) for none."""
    for label, kind in ALERT_ENTITY_LABELS:
        if labels.get(label):
            return kind, labels[label]
    return None, None


def _fields(received: ReceivedAlert) -> dict[str, object]:
    kind, target_id = linked_entity(received.labels)
    resolved = received.status == str(AlertStatus.RESOLVED)
    return {
        "name": received.labels["alertname"],
        "fingerprint": received.fingerprint,
        "severity": received.labels.get("severity"),
        "labels": dict(received.labels),
        "annotations": dict(received.annotations),
        "starts_at": received.starts_at,
        "ends_at": received.ends_at if resolved else None,
        "generator_url": received.generator_url,
        "target_kind": kind,
        "target_id": target_id,
    }


class AlertAggregate(Aggregate[Alert]):
    table = TransitionTable.of("alert", ALERT_TRANSITIONS)

    @classmethod
    def received(cls, received: ReceivedAlert) -> Self:
        """A new alert in the status Alertmanager gives; its event is that status (`firing`
        or `resolved`), not `created`."""
        item = cls.create(Alert, received.fingerprint, received.status, **_fields(received))
        item.changes = [Change(str(received.status), None)]
        return item

    def receive(self, received: ReceivedAlert) -> bool:
        """Apply a later delivery of this alert; False when it says nothing new."""
        fields = _fields(received)
        if received.status == self.status:
            current = self.state.model_dump()
            if all(current.get(name) == value for name, value in fields.items()):
                return False  # Alertmanager's repeat
            self.update(**fields)
            return True
        self.transition(received.status, **fields)
        return True
