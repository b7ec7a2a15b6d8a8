"""Request-reply with a Slipway service over NATS, with the failures classified: the one
client the gateway and the services use to send commands and queries."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from slipway_keys.principals import Signer
from slipway_libs import context
from slipway_libs.errors import SlipwayError, Unavailable, error_from_reply
from slipway_observability import tracing

# Nothing subscribed when the request came: sent once more after this long (a replica that is
# just starting or restarting subscribes meanwhile; nobody received the first one).
NO_RESPONDERS_RETRY_S = 0.1


def encode(payload: dict[str, Any]) -> bytes:
    """The JSON body of a request, as sent on the bus."""
    return json.dumps(payload, default=str).encode()


async def request(
    connection: Client | None,
    subject: str,
    payload: dict[str, Any] | bytes,
    *,
    timeout_s: float,
    command_id: str | None = None,
    signer: Signer | None = None,
) -> Any:
    """Send one command or query (bytes: already `encode`d) with the correlation id, and return
    the reply's `data`; Unavailable when nothing answers in `timeout_s`, else the service's
    error. `command_id` makes a command idempotent; `signer` signs it as its principal."""
    if connection is None or not connection.is_connected:
        raise Unavailable("the message bus (NATS) is unavailable")
    headers = tracing.inject({context.CORRELATION_HEADER: context.current_correlation_id()})
    if command_id:
        headers[context.COMMAND_ID_HEADER] = command_id
    body = payload if isinstance(payload, bytes) else encode(payload)
    if signer is not None:
        headers.update(signer.headers(subject, command_id, body))
    deadline = time.monotonic() + timeout_s
    try:
        for attempt in (1, 2):
            try:
                left = deadline - time.monotonic()
                msg = await connection.request(subject, body, timeout=left, headers=headers)
                break
            except NoRespondersError:
                if attempt == 2 or deadline - time.monotonic() <= NO_RESPONDERS_RETRY_S:
                    raise
                await asyncio.sleep(NO_RESPONDERS_RETRY_S)
    except NoRespondersError as exc:
        raise Unavailable(f"no service is answering {subject}") from exc
    except (TimeoutError, NatsTimeout) as exc:
        raise Unavailable(f"no answer on {subject} within {timeout_s:g} s") from exc
    except NatsError as exc:
        raise Unavailable(f"the message bus (NATS) is unavailable: {exc}") from exc
    try:
        reply = json.loads(msg.data)
    except ValueError as exc:
        raise SlipwayError(f"malformed reply on {subject}") from exc
    if not isinstance(reply, dict) or "ok" not in reply:
        raise SlipwayError(f"malformed reply on {subject}")
    if not reply["ok"]:
        raise error_from_reply(reply.get("error") or {})
    return reply.get("data")
