"""NATS wiring shared by the services: streams, the broker with its middlewares, declared
publishers for the outbox relay, and the replies to `get` and `list` queries."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

from faststream import BaseMiddleware, ExceptionMiddleware
from faststream.nats import JStream, NatsBroker, NatsNKey
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.publisher.usecase import LogicPublisher
from faststream.nats.security import NatsSecurity
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import BaseModel, ValidationError
from pymongo.errors import DuplicateKeyError, PyMongoError

from slipway_contracts import subjects
from slipway_contracts.queries import ListEntities
from slipway_libs import context
from slipway_libs.audit import CommandAudit
from slipway_libs.errors import Conflict, InvalidInput, SlipwayError, Unavailable
from slipway_libs.progress import ProgressPublisher
from slipway_libs.settings import CommonSettings
from slipway_libs.statemachine import IllegalTransition
from slipway_libs.storage import unavailable_from
from slipway_libs.unit_of_work import Repository as RepositoryPort
from slipway_libs.unit_of_work import TransientConflict, ok
from slipway_observability import tracing
from slipway_observability.metrics import bus_middleware

log = logging.getLogger(__name__)

JOBS_STREAM = subjects.JOBS_STREAM
DUPLICATE_WINDOW_S = 600.0

STREAMS = (
    StreamConfig(
        name=subjects.EVENTS_STREAM,
        subjects=[subjects.EVENTS_WILDCARD],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=30 * 86400,
        duplicate_window=DUPLICATE_WINDOW_S,
    ),
    StreamConfig(
        name=JOBS_STREAM,
        subjects=[subjects.JOBS_WILDCARD],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_S,
    ),
    # Audit entries of commands received over NATS, on their way to the gateway's store.
    StreamConfig(
        name=subjects.AUDIT_STREAM,
        subjects=[subjects.AUDIT_WILDCARD],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        max_age=7 * 86400,
        duplicate_window=DUPLICATE_WINDOW_S,
    ),
)


async def ensure_streams(
    js: JetStreamContext, replicas: int = 1, events_max_age_days: float | None = None
) -> None:
    """Create SLIPWAY_EVENTS, SLIPWAY_JOBS and SLIPWAY_AUDIT, or bring their config up to date,
    each kept by `replicas` servers of the NATS cluster (the setting `stream_replicas`);
    SLIPWAY_EVENTS keeps events `events_max_age_days` (None: as it does, 30 when created)."""
    for config in (dataclasses.replace(c, num_replicas=replicas) for c in STREAMS):
        events = config.name == subjects.EVENTS_STREAM
        if events and events_max_age_days is not None:
            config.max_age = events_max_age_days * 86400
        try:
            kept = (await js.stream_info(str(config.name))).config.max_age
            config.max_age = kept if events and events_max_age_days is None else config.max_age
            await js.update_stream(config)
        except NotFoundError:
            await js.add_stream(config)


HANDLER_ARGUMENTS = ("body", "command", "query", "job")


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as `{"field", "message"}`, the field a dotted path."""
    errors = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        if loc and loc[0] in HANDLER_ARGUMENTS:  # FastStream prefixes the handler's argument
            loc = loc[1:]
        message = str(error["msg"]).removeprefix("Value error, ")
        errors.append({"field": ".".join(loc) or "body", "message": message})
    return errors


def error_reply(exc: Exception) -> dict[str, Any]:
    """The `{"ok": false, "error": ...}` reply to the exception a handler raised."""
    if isinstance(exc, ValidationError):
        errors = field_errors(exc)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return InvalidInput(f"invalid input: {summary}", errors).to_reply()
    if isinstance(exc, SlipwayError):
        return exc.to_reply()
    if isinstance(exc, IllegalTransition):
        return Conflict(str(exc), {"current_status": exc.current}).to_reply()
    if isinstance(exc, DuplicateKeyError):
        key = exc.details.get("keyValue") if exc.details else exc
        return Conflict(f"already exists: {key}").to_reply()
    if isinstance(exc, PyMongoError):
        return unavailable_from(exc).to_reply()
    if isinstance(exc, TransientConflict):  # e.g. a retried command racing its first run
        return Unavailable("a concurrent write of the same entity won; retry").to_reply()
    log.error("command failed", exc_info=exc)
    return SlipwayError("internal error; see the service log").to_reply()


def error_replies() -> ExceptionMiddleware:
    """The middleware that answers a handler's exception with its `error_reply`."""
    return ExceptionMiddleware(publish_handlers={Exception: error_reply})


class ContextMiddleware(BaseMiddleware):
    """Bind the correlation id and command id carried in the message headers."""

    async def on_receive(self) -> None:
        headers = getattr(self.msg, "headers", None) or {}
        context.bind(
            headers.get(context.CORRELATION_HEADER), headers.get(context.COMMAND_ID_HEADER)
        )


def nats_options(settings: CommonSettings) -> dict[str, Any]:
    """The keyword arguments of `nats.connect` for this process: the servers (`nats_url`,
    comma-separated), its principal's NKey seed file, the CA of a TLS server. The one place
    settings become a NATS connection."""
    servers = [url.strip() for url in settings.nats_url.split(",") if url.strip()]
    options: dict[str, Any] = {"servers": servers}
    if settings.nats_nkey_file is not None:
        options["nkeys_seed"] = str(settings.nats_nkey_file)
    if settings.nats_ca_file is not None:  # verified against this CA, hostname included
        options["tls"] = ssl.create_default_context(cafile=str(settings.nats_ca_file))
    return options


def make_broker(settings: CommonSettings, service: str) -> NatsBroker:
    """The broker of worker `service`: its principal's connection, context, audit, error replies."""
    options = nats_options(settings)
    seed, tls = options.pop("nkeys_seed", None), options.pop("tls", None)
    if seed is not None:  # FastStream takes credentials and TLS as `security`
        options["security"] = NatsNKey.from_file(seed, ssl_context=tls)
    elif tls is not None:
        options["security"] = NatsSecurity(ssl_context=tls)
    audit = CommandAudit(service, settings.nats_principals_file)
    broker = NatsBroker(
        **options,
        # Outermost first: the audit sees the reply the error middleware makes of a failure;
        # the metrics, innermost, see the failure itself (status `error`, exception type).
        # The trace spans everything, the metrics only the handling.
        middlewares=[
            # Spans, `traceparent` in and out of NATS headers; only when spans are exported
            # (else its no-op spans cost a tenth of a worker's CPU per message).
            *([NatsTelemetryMiddleware()] if tracing.enabled() else []),
            ContextMiddleware,
            audit,
            error_replies(),
            bus_middleware(service),
        ],
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=2,
        log_level=logging.DEBUG,
    )
    audit.declare(broker)
    return broker


class DeclaredPublishers:
    """Publishers declared for every outbox subject and progress channel (AsyncAPI shows them)."""

    def __init__(self, broker: NatsBroker) -> None:
        self.broker = broker
        self.by_subject: dict[str, LogicPublisher] = {}
        self.progress: dict[str, ProgressPublisher] = {}

    def declare_progress(self, entity: str) -> None:
        """Declare `slipway.progress.<entity>.{id}`, the live progress of an entity type."""
        self.progress[entity] = ProgressPublisher(self.broker, entity)

    def declare(
        self, subject: str, stream: str, schema: type[BaseModel] | None, description: str
    ) -> None:
        self.by_subject[subject] = self.broker.publisher(
            subject, stream=JStream(stream, declare=False), schema=schema, description=description
        )

    def declare_events(self, entity: str, events: Mapping[str, type[BaseModel]]) -> None:
        """Declare `slipway.events.<entity>.<event>` for each event model."""
        for name, model in events.items():
            description = (model.__doc__ or name).strip()
            self.declare(subjects.event(entity, name), subjects.EVENTS_STREAM, model, description)

    async def publish(
        self, subject: str, payload: bytes, headers: dict[str, str], stream: str
    ) -> None:
        """Publish one outbox message to JetStream and wait for its ack."""
        publisher = self.by_subject.get(subject)
        if publisher is None:
            raise LookupError(f"no publisher declared for {subject}")
        await publisher.publish(payload, headers=headers, stream=stream, timeout=5)


@contextlib.contextmanager
def conflict_on(index: str, conflict: Conflict) -> Iterator[None]:
    """Raise `conflict` (a name already taken) for a clash on the unique index `index`."""
    try:
        yield
    except DuplicateKeyError as exc:
        if index in str(exc):
            raise conflict from exc
        raise


async def entity_reply(repository: RepositoryPort[Any], entity_id: str) -> dict[str, Any]:
    """The reply to a `get` query: the entity's snapshot (NotFound when there is none)."""
    return ok((await repository.get(entity_id)).state.snapshot())


async def page_reply(repository: RepositoryPort[Any], query: ListEntities) -> dict[str, Any]:
    """The reply to a `list` query: one page of snapshots and the next page's cursor."""
    items, cursor = await repository.listing(
        status=query.status, cursor=query.cursor, limit=query.limit
    )
    return ok({"items": [i.snapshot() for i in items], "next_cursor": cursor})
