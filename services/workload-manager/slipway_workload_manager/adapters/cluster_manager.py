"""The cluster-manager over NATS request-reply (`slipway.minikube_cluster.*`)."""

from __future__ import annotations

import json
from typing import Any

from faststream.nats import NatsBroker
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from slipway_contracts import subjects
from slipway_libs import context
from slipway_workload_manager.domain.cluster_manager import (
    ClusterManagerRefused,
    ClusterManagerUnavailable,
)

CLUSTER = subjects.MINIKUBE_CLUSTER


def kubeconfig_of(data: Any) -> str:
    """The kubeconfig in the reply of `query.kubeconfig` (the one place that knows its shape)."""
    if isinstance(data, dict) and isinstance(data.get("kubeconfig"), str):
        return str(data["kubeconfig"])
    raise ClusterManagerRefused("the cluster-manager's kubeconfig reply has no 'kubeconfig'")


async def ask(
    broker: NatsBroker,
    subject: str,
    payload: dict[str, Any],
    timeout_s: float,
    command: bool = False,
) -> Any:
    """Request-reply with another Slipway service; its `data`, or the error it answered."""
    headers = {context.CORRELATION_HEADER: context.current_correlation_id()}
    if command:  # a fresh id: a retried load is a new attempt, not a replay of a failure
        headers[context.COMMAND_ID_HEADER] = context.new_id()
    try:
        msg = await broker.connection.request(
            subject, json.dumps(payload).encode(), timeout=timeout_s, headers=headers
        )
    except NoRespondersError as exc:
        raise ClusterManagerUnavailable(f"no service answers {subject}") from exc
    except (TimeoutError, NatsTimeout) as exc:
        raise ClusterManagerUnavailable(f"no answer on {subject} within {timeout_s:.0f} s") from exc
    except NatsError as exc:
        raise ClusterManagerUnavailable(f"NATS is unavailable: {exc}") from exc
    try:
        reply = json.loads(msg.data)
    except ValueError as exc:
        raise ClusterManagerRefused(f"malformed reply on {subject}") from exc
    if not isinstance(reply, dict) or "ok" not in reply:
        raise ClusterManagerRefused(f"malformed reply on {subject}")
    if not reply["ok"]:
        error = reply.get("error") or {}
        code = str(error.get("code", "internal"))
        if code == "unavailable":
            raise ClusterManagerUnavailable(str(error.get("message", "unavailable")))
        raise ClusterManagerRefused(str(error.get("message", "error")), code, error.get("details"))
    return reply.get("data")


async def owner_snapshot(
    broker: NatsBroker, entity: str, entity_id: str, timeout_s: float
) -> dict[str, Any] | None:
    """The owning service's current snapshot of an entity (`slipway.<entity>.query.get`),
    or None when it does not know the entity or cannot answer now."""
    try:
        data = await ask(broker, subjects.query(entity, "get"), {"id": entity_id}, timeout_s)
    except (ClusterManagerRefused, ClusterManagerUnavailable):
        return None
    return data if isinstance(data, dict) else None


class NatsClusterManager:
    """Asks the cluster-manager through the service's own NATS connection."""

    def __init__(self, broker: NatsBroker, *, query_timeout_s: float, load_timeout_s: float):
        self.broker = broker
        self.query_timeout_s = query_timeout_s
        self.load_timeout_s = load_timeout_s

    async def kubeconfig(self, cluster_id: str) -> str:
        data = await ask(
            self.broker,
            subjects.query(CLUSTER, "kubeconfig"),
            {"id": cluster_id},
            self.query_timeout_s,
        )
        return kubeconfig_of(data)

    async def load_image(self, cluster_id: str, image: str) -> None:
        await ask(
            self.broker,
            subjects.command(CLUSTER, "load_image"),
            {"id": cluster_id, "image": image},
            self.load_timeout_s,
            command=True,
        )
