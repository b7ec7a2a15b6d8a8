"""Images' registry credentials in MongoDB, sealed (the `RegistryCredentials` port).

One document per image in `registry_secrets`, beside (never inside) the image record:
`{"_id": <image id>, "username": ..., "password": <sealed token>, "sealed_at": <time>}`. The
token is AES-GCM under the installation's secret key (`slipway_keys.secrets`), bound to the
image's id. Writes join the transaction of the unit of work open in the task."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from slipway_contracts import subjects
from slipway_image_builder.domain.ports import RegistryLogin
from slipway_keys.secrets import SealedSecretError, Sealer
from slipway_libs.errors import PermanentError
from slipway_libs.storage import MongoUnitOfWork, classified, unavailable_from

REGISTRY_SECRETS = "registry_secrets"


def associated_data(image_id: str) -> bytes:
    """What a sealed password is bound to: its image."""
    return f"{subjects.CONTAINER_IMAGE}/{image_id}/registry-password".encode()


class SealedRegistryCredentials:
    def __init__(
        self, uow: MongoUnitOfWork, collection: AsyncCollection[dict[str, Any]], sealer: Sealer
    ) -> None:
        self.uow = uow
        self.collection = collection
        self.sealer = sealer

    async def keep(self, image_id: str, login: RegistryLogin) -> None:
        token = self.sealer.seal(login.password.encode(), associated_data(image_id))
        document = {
            "_id": image_id,
            "username": login.username,
            "password": token,
            "sealed_at": datetime.now(UTC),
        }
        try:
            await self.collection.replace_one(
                {"_id": image_id}, document, upsert=True, session=self.uow.session
            )
        except PyMongoError as exc:
            raise classified(exc) from exc

    async def read(self, image_id: str) -> RegistryLogin | None:
        try:
            document = await self.collection.find_one({"_id": image_id})
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        if document is None:
            return None
        try:
            password = self.sealer.open_sealed(document["password"], associated_data(image_id))
        except SealedSecretError as error:
            raise PermanentError(
                f"the registry credentials kept for image {image_id} cannot be opened: {error}"
            ) from None
        return RegistryLogin(str(document["username"]), password.decode())

    async def forget(self, image_id: str) -> None:
        try:
            await self.collection.delete_one({"_id": image_id}, session=self.uow.session)
        except PyMongoError as exc:
            raise classified(exc) from exc
