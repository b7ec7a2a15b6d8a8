"""Clusters' credentials in MongoDB, sealed (the `ClusterCredentials` port).

One document per cluster in `cluster_secrets`, beside (never inside) the cluster record:
`{"_id": <cluster id>, "kubeconfig": <sealed token>, "sealed_at": <time>}`. The token is
AES-GCM under the installation's secret key (`slipway_keys.secrets`), bound to the
cluster's id, so it opens for no other record. Writes join the transaction of the unit of
work open in the task; reads see what is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from slipway_cluster_manager.domain.ports import PermanentDriverError
from slipway_contracts import subjects
from slipway_keys.secrets import SealedSecretError, Sealer
from slipway_libs.storage import MongoUnitOfWork, classified, unavailable_from

CLUSTER_SECRETS = "cluster_secrets"
KUBECONFIG = "kubeconfig"
CREDENTIALS = "CREDENTIALS"


def associated_data(cluster_id: str, kind: str) -> bytes:
    """What a sealed credential is bound to: its cluster and what it is."""
    return f"{subjects.MINIKUBE_CLUSTER}/{cluster_id}/{kind}".encode()


class SealedClusterCredentials:
    """Sealed credentials of clusters in one MongoDB collection (see the module docstring)."""

    def __init__(
        self, uow: MongoUnitOfWork, collection: AsyncCollection[dict[str, Any]], sealer: Sealer
    ) -> None:
        self.uow = uow
        self.collection = collection
        self.sealer = sealer

    async def keep_kubeconfig(self, cluster_id: str, kubeconfig: str) -> None:
        token = self.sealer.seal(kubeconfig.encode(), associated_data(cluster_id, KUBECONFIG))
        document = {"_id": cluster_id, KUBECONFIG: token, "sealed_at": datetime.now(UTC)}
        try:
            await self.collection.replace_one(
                {"_id": cluster_id}, document, upsert=True, session=self.uow.session
            )
        except PyMongoError as exc:
            raise classified(exc) from exc

    async def kubeconfig(self, cluster_id: str) -> str:
        try:
            document = await self.collection.find_one({"_id": cluster_id})
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        if document is None or KUBECONFIG not in document:
            raise PermanentDriverError(
                f"no kubeconfig is kept for cluster {cluster_id}", code=CREDENTIALS
            )
        try:
            opened = self.sealer.open_sealed(
                document[KUBECONFIG], associated_data(cluster_id, KUBECONFIG)
            )
        except SealedSecretError as error:
            raise PermanentDriverError(
                f"the kubeconfig kept for cluster {cluster_id} cannot be opened: {error}",
                code=CREDENTIALS,
            ) from None
        return opened.decode()

    async def forget(self, cluster_id: str) -> None:
        try:
            await self.collection.delete_one({"_id": cluster_id}, session=self.uow.session)
        except PyMongoError as exc:
            raise classified(exc) from exc
