"""`PullLogins` over NATS: the image-builder answers `slipway.container_image.query.pull_secret`
with a pushed image's registry login (only this service's principal may ask). The answer is
never logged, and errors about it never quote it."""

from __future__ import annotations

from faststream.nats import NatsBroker
from pydantic import ValidationError

from slipway_contracts import subjects
from slipway_contracts.queries import GetPullSecret, PullSecretAnswer
from slipway_keys.principals import Signer
from slipway_libs.errors import SlipwayError
from slipway_libs.requests import request

from ..domain.ports import RegistryPullLogin


class NatsPullLogins:
    """Asks the image-builder through the service's own NATS connection."""

    def __init__(
        self, broker: NatsBroker, *, timeout_s: float, signer: Signer | None = None
    ) -> None:
        self.broker = broker
        self.timeout_s = timeout_s
        self.signer = signer

    async def login(self, image_id: str) -> RegistryPullLogin | None:
        data = await request(
            self.broker.connection,
            subjects.pull_secret(),
            GetPullSecret(id=image_id).model_dump(),
            timeout_s=self.timeout_s,
            signer=self.signer,
        )
        try:
            answer = PullSecretAnswer.model_validate(data)
        except ValidationError:
            raise SlipwayError(
                f"the image-builder's pull secret answer for image '{image_id}' is unusable"
            ) from None
        if answer.credentials == "none":
            return None
        if not (answer.registry and answer.username and answer.password):
            raise SlipwayError(f"the image-builder's login for image '{image_id}' is incomplete")
        return RegistryPullLogin(answer.registry, answer.username, answer.password)
