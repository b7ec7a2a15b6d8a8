"""The gateway's NATS connection: request-reply with classified errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from slipway_libs import context
from slipway_libs.errors import SlipwayError, Unavailable, error_from_reply

log = logging.getLogger(__name__)
NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024


def encode(payload: dict[str, Any]) -> bytes:
    """The JSON body of a request, as sent on the bus."""
    return json.dumps(payload, default=str).encode()


class CommandBus:
    """Sends commands and queries; keeps (re)connecting to NATS in the background."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.nc: Client | None = None
        self._connector: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    @property
    def max_payload(self) -> int:
        """The largest message the connected NATS server accepts (its `max_payload`)."""
        if self.nc is None or not self.nc.is_connected:
            return NATS_DEFAULT_MAX_PAYLOAD
        return self.nc.max_payload

    async def start(self) -> None:
        self._connector = asyncio.create_task(self._connect_forever())

    async def _connect_forever(self) -> None:
        while self.nc is None:
            try:
                self.nc = await nats.connect(
                    self.url,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    connect_timeout=2,
                    allow_reconnect=True,
                    name="slipway-gateway",
                )
            except (TimeoutError, OSError, NatsError) as exc:
                log.warning("NATS unreachable; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1)

    async def stop(self) -> None:
        if self._connector:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()

    async def request(
        self,
        subject: str,
        payload: dict[str, Any] | bytes,
        command_id: str | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Send one request (`payload` as bytes: already `encode`d); return the reply's
        `data` or raise the classified error."""
        if self.nc is None or not self.nc.is_connected:
            raise Unavailable("the message bus (NATS) is unavailable")
        headers = {context.CORRELATION_HEADER: context.current_correlation_id()}
        if command_id:
            headers[context.COMMAND_ID_HEADER] = command_id
        try:
            msg = await self.nc.request(
                subject,
                payload if isinstance(payload, bytes) else encode(payload),
                timeout=timeout_s or self.timeout_s,
                headers=headers,
            )
        except NoRespondersError as exc:
            raise Unavailable(f"no service is answering {subject}") from exc
        except (TimeoutError, NatsTimeout) as exc:
            raise Unavailable(f"no answer on {subject} in time") from exc
        except NatsError as exc:
            raise Unavailable(f"the message bus (NATS) is unavailable: {exc}") from exc
        reply = json.loads(msg.data)
        if not isinstance(reply, dict) or "ok" not in reply:
            raise SlipwayError(f"malformed reply on {subject}")
        if not reply["ok"]:
            raise error_from_reply(reply["error"])
        return reply.get("data")
