"""The cluster-manager over NATS request-reply (`slipway.minikube_cluster.*`), and the
other services' `query.get` (the owners a projection catches up with)."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from slipway_contracts import subjects
from slipway_keys.principals import Signer
from slipway_libs import context
from slipway_libs.errors import SlipwayError, Unavailable
from slipway_libs.requests import request
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
    command_id: str | None = None,
    signer: Signer | None = None,
) -> Any:
    """Request-reply with another Slipway service, signed by `signer`: its `data`, or the
    error it answered as ClusterManagerUnavailable (retry later) or ClusterManagerRefused."""
    try:
        return await request(
            broker.connection,
            subject,
            payload,
            timeout_s=timeout_s,
            command_id=command_id,
            signer=signer,
        )
    except Unavailable as exc:
        raise ClusterManagerUnavailable(exc.message) from exc
    except SlipwayError as exc:
        raise ClusterManagerRefused(exc.message, exc.code, exc.details) from exc


class OwnerQueries:
    """The owning service's current snapshot of an entity (`slipway.<entity>.query.get`)."""

    def __init__(
        self, broker: NatsBroker, *, timeout_s: float, signer: Signer | None = None
    ) -> None:
        self.broker = broker
        self.timeout_s = timeout_s
        self.signer = signer

    async def snapshot(self, entity: str, entity_id: str) -> dict[str, Any] | None:
        """The snapshot, or None when the owner does not know the entity or cannot answer."""
        try:
            data = await ask(
                self.broker,
                subjects.query(entity, "get"),
                {"id": entity_id},
                self.timeout_s,
                signer=self.signer,
            )
        except (ClusterManagerRefused, ClusterManagerUnavailable):
            return None
        return data if isinstance(data, dict) else None


class NatsClusterManager:
    """Asks the cluster-manager through the service's own NATS connection."""

    def __init__(
        self,
        broker: NatsBroker,
        *,
        query_timeout_s: float,
        load_timeout_s: float,
        signer: Signer | None = None,
    ):
        self.broker = broker
        self.query_timeout_s = query_timeout_s
        self.load_timeout_s = load_timeout_s
        self.signer = signer

    async def kubeconfig(self, cluster_id: str) -> str:
        data = await ask(
            self.broker,
            subjects.query(CLUSTER, "kubeconfig"),
            {"id": cluster_id},
            self.query_timeout_s,
            signer=self.signer,
        )
        return kubeconfig_of(data)

    async def load_image(self, cluster_id: str, image: str) -> None:
        # A fresh command id: a retried load is a new attempt, not a replay of a failure.
        await ask(
            self.broker,
            subjects.command(CLUSTER, "load_image"),
            {"id": cluster_id, "image": image},
            self.load_timeout_s,
            command_id=context.new_id(),
            signer=self.signer,
        )
