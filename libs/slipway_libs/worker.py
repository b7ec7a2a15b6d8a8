"""The composition root every worker service shares: a FastStream app on NATS that owns
one MongoDB database, publishes its outbox through a relay and runs periodic loops. A
service supplies its publishers, routers and `assemble(kit)`, which builds its repositories
and adapters from the kit and registers what runs (`kit.every`, `kit.run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, Generic, TypeVar

from faststream import ContextRepo, FastStream
from faststream._internal.context import Context  # the class `faststream.Context()` makes
from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.message import NatsMessage
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from slipway_keys.principals import signer_of
from slipway_libs import logging as slipway_logging
from slipway_libs.aggregate import Aggregate
from slipway_libs.errors import Unavailable
from slipway_libs.messaging import DeclaredPublishers, ensure_streams, make_broker
from slipway_libs.progress import ProgressPublisher
from slipway_libs.relay import Observer, OutboxRelay
from slipway_libs.runtime import add_health, cancelled, every, started, wait_for_database
from slipway_libs.settings import CommonSettings
from slipway_libs.storage import OUTBOX, Database, MongoUnitOfWork, Repository
from slipway_observability import metrics, tracing

S = TypeVar("S", bound=CommonSettings)
A = TypeVar("A", bound=Aggregate[Any])
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])

Work = Callable[[], Awaitable[Any]]
HEALTH_PATH = "/healthz"
# A probe that has not sent its request by then is dropped (the ping has `mongodb_timeout_s`).
HEALTH_REQUEST_TIMEOUT_S = 10.0


@dataclass(eq=False, repr=False)
class WorkerKit(Generic[S]):
    """What `assemble` builds a service from, and where it registers what has to run. The
    broker connects after `assemble`, the database on first use: do I/O in `setup` steps."""

    name: str
    settings: S
    broker: NatsBroker
    database: Database
    _context: ContextRepo
    _publishers: DeclaredPublishers

    def __post_init__(self) -> None:
        # Signs the commands and queries the service sends to others (None: no principal).
        self.signer = signer_of(self.settings.nats_nkey_file)
        self._setup: list[Work] = [self.database.ensure_indexes]
        self._tasks: list[Coroutine[Any, Any, Any]] = []
        self._ready_fields: dict[str, Any] = {}
        self._observers: list[Observer] = []

    def repository(
        self,
        collection: str,
        model: type[BaseModel],
        aggregate: type[A],
        entity: str,
        *,
        deadline_field: str = "deadline",
    ) -> Repository[A]:
        """The repository of an entity this service owns (events from `/slipway/<service>`)."""
        repository = Repository(
            self.database,
            collection,
            model,
            aggregate,
            entity,
            f"/slipway/{self.name}",
            deadline_field=deadline_field,
        )
        self.setup(repository.ensure_indexes)
        return repository

    def progress(self, entity: str) -> ProgressPublisher:
        """The live-progress publisher of `entity` (declared in `declare_publishers`)."""
        return self._publishers.progress[entity]

    def unit_of_work(self) -> MongoUnitOfWork:
        """A unit of work on the service's database (open one per transaction)."""
        return MongoUnitOfWork(self.database)

    def setup(self, step: Work) -> None:
        """Run `step` (e.g. index creation) once MongoDB answers, before any work is taken."""
        self._setup.append(step)

    def set_global(self, key: str, value: Any) -> None:
        """Make `value` available to handlers as FastStream `Context(key)`."""
        self._context.set_global(key, value)

    def every(self, interval_s: float, work: Work, name: str) -> None:
        """Run `work` every `interval_s` seconds while the service runs (see `runtime.every`)."""
        self._tasks.append(every(interval_s, work, name))

    def run(self, task: Coroutine[Any, Any, Any]) -> None:
        """Run `task` while the service runs; it is cancelled at shutdown."""
        self._tasks.append(task)

    def observe_published(self, observer: Observer) -> None:
        """Tell `observer` of each outbox message this service publishes (e.g. metrics)."""
        self._observers.append(observer)

    def log_when_ready(self, **fields: Any) -> None:
        """Add `fields` to the "<service> ready" log line."""
        self._ready_fields.update(fields)

    async def _run_setup(self) -> None:
        for step in self._setup:
            await step()


class Shared(Context):
    """`Context(key)` for a handler's parameter, read on the event loop: FastStream runs a
    plain `use` in a worker thread for every message (a thread hand-off per command)."""

    async def use(self, /, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        return super().use(**kwargs)


# A handler's JetStream message (to ack it): FastStream's `NatsMessage`, read on the loop.
JetStreamMessage = Annotated[NatsMessage, Shared("message")]


class RequestHandlers:
    """A service's request-reply handlers (commands, queries), declared at import time with
    `@handlers.subscriber(subject)` and subscribed by `router(max_concurrency)` in the
    service's queue group, each subject's messages handled up to `max_concurrency` at once."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self._declared: list[tuple[str, Callable[..., Awaitable[Any]]]] = []

    def subscriber(self, subject: str) -> Callable[[H], H]:
        def declare(handler: H) -> H:
            self._declared.append((subject, handler))
            return handler

        return declare

    def router(self, max_concurrency: int) -> NatsRouter:
        """A router with every declared handler subscribed (a new one at each call)."""
        router = NatsRouter()
        for subject, handler in self._declared:
            router.subscriber(subject, queue=self.queue, max_workers=max_concurrency)(handler)
        return router


def build_worker_app(
    name: str,
    settings: S,
    *,
    database: str,
    routers: Iterable[NatsRouter | RequestHandlers],
    declare_publishers: Callable[[DeclaredPublishers], None],
    assemble: Callable[[WorkerKit[S]], Awaitable[None]],
) -> FastStream:
    """The FastStream app of worker service `name`, owning MongoDB database `database` (its
    outbox subjects declared by `declare_publishers`; its request handlers handled concurrently,
    up to `max_concurrency` per subject). Start-up: logging, the health endpoint,
    `assemble`, the setup steps once MongoDB answers, NATS and the streams, then the relay,
    loops and tasks, and the "<service> ready" line; shutdown stops them."""
    tracing.configure(name)  # exports spans when OTEL_EXPORTER_OTLP_ENDPOINT is set
    broker = make_broker(settings, name)
    for given in routers:
        if isinstance(given, RequestHandlers):  # subscribed with the concurrency setting
            given = given.router(settings.max_concurrency)
        broker.include_router(given)
    publishers = DeclaredPublishers(broker)
    declare_publishers(publishers)
    serving: Database | None = None  # set once the service takes work
    add_health(broker, name, lambda: serving)
    # The ready line is the service's own: it carries the service's logger name.
    service_log = logging.getLogger(getattr(assemble, "__module__", None) or __name__)

    @contextlib.asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        nonlocal serving
        slipway_logging.configure(name, settings.log_level)
        db = Database(settings.mongodb_uri, database, settings.mongodb_timeout_s)
        kit = WorkerKit(name, settings, broker, db, context, publishers)
        running: list[asyncio.Task[Any]] = []
        health: asyncio.Server | None = None
        stop_metrics: Callable[[], None] | None = None

        async def sample_metrics() -> None:
            await metrics.sample_database(name, db.db, OUTBOX, db.entity_collections)
            consumers = metrics.durable_consumers(broker)
            await metrics.sample_consumers(broker.connection.jetstream(), consumers)

        try:
            if settings.health_port is not None:
                health = await serve_health(db, settings.health_host, settings.health_port)
            if settings.metrics_port:  # 0 or unset: no /metrics
                try:
                    stop_metrics = metrics.serve(settings.metrics_host, settings.metrics_port)
                except OSError as exc:  # the port is taken: serve without /metrics
                    port, error = settings.metrics_port, str(exc)
                    service_log.warning("no /metrics", extra={"port": port, "error": error})
            await assemble(kit)
            await wait_for_database(db, kit._run_setup)
            await broker.connect()
            js, age = broker.connection.jetstream(), settings.events_max_age_days
            await ensure_streams(js, settings.stream_replicas, age)
            serving = db
            relay = OutboxRelay(
                db,
                publishers.publish,
                owner=settings.instance,
                interval_s=settings.relay_interval_s,
                service=name,
                observers=tuple(kit._observers),
            )
            if stop_metrics is not None:
                kit.every(settings.metrics_interval_s, sample_metrics, "metrics")
            running = [asyncio.create_task(task) for task in (relay.run(), *kit._tasks)]
            service_log.info(f"{name} ready", extra=kit._ready_fields)
            started()
            yield
        finally:
            for task in running:
                task.cancel()
            for task in running:  # each to its end, though it let a cancellation pass
                with contextlib.suppress(Exception):  # a failure was logged as it happened
                    await cancelled(task)
            if not running:  # start-up failed before the tasks started
                for never_started in kit._tasks:
                    never_started.close()
            if stop_metrics is not None:
                stop_metrics()
            tracing.shutdown()
            if health is not None:
                health.close()
                await health.wait_closed()
            await db.close()

    return FastStream(
        broker, lifespan=lifespan, specification=AsyncAPI(title=f"Slipway {name}", version="0.1.0")
    )


async def serve_health(database: Database, host: str, port: int) -> asyncio.Server:
    """Answer `GET /healthz` on `host:port` (HTTP/1.1): 200 when `database` pings, else 503."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(HEALTH_REQUEST_TIMEOUT_S):
                method, status, body = await _health(reader, database)
                writer.write(_response(status, body, with_body=method != "HEAD"))
                await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass  # a stalled, vanished or garbled client gets no answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port)


async def _health(
    reader: asyncio.StreamReader, database: Database
) -> tuple[str, int, dict[str, str]]:
    """The method of the request `reader` brings, and the status and body of the answer."""
    request_line = (await reader.readline()).decode("latin-1").split()
    while await reader.readline() not in (b"\r\n", b"\n", b""):
        pass  # headers: nothing in them changes the answer
    if len(request_line) != 3 or not request_line[2].startswith("HTTP/"):
        return "", 400, {"status": "bad request"}
    method, path = request_line[0], request_line[1].split("?", 1)[0]
    if path != HEALTH_PATH:
        return method, 404, {"status": "not found", "error": f"only {HEALTH_PATH} is served here"}
    if method not in ("GET", "HEAD"):
        return method, 405, {"status": "method not allowed"}
    try:
        await database.ping()
    except Unavailable as exc:
        return method, 503, {"status": "unavailable", "error": exc.message}
    return method, 200, {"status": "ok"}


def _response(status: int, body: dict[str, str], *, with_body: bool) -> bytes:
    payload = json.dumps(body).encode()
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
        "Cache-Control: no-store",
        "Connection: close",
    ]
    if status == 405:
        head.append("Allow: GET, HEAD")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (payload if with_body else b"")
