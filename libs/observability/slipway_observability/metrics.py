"""The metrics every worker exports on its own `/metrics` port (`SLIPWAY_METRICS_PORT`).

- the bus (FastStream's Prometheus middleware, prefix `slipway_bus`): every command, query
  and job by `handler` (its subject, e.g. `slipway.jobs.container_image.build`) and `status`
  (acked, nacked, rejected, error), with duration histograms and exceptions by type;
- the outbox: `slipway_outbox_backlog` (messages committed, not yet published),
  `slipway_outbox_oldest_pending_seconds` and `slipway_relay_lag_seconds` (commit → publish);
- jobs: `slipway_jobs_total` and `slipway_job_duration_seconds` by kind (e.g.
  `container_image.build`, `deployment.rollout`) and outcome (succeeded, failed, retried,
  redelivered);
- `slipway_events_published_total` by entity and event;
- `slipway_entities` by kind and status, and `slipway_entity_status` (1 per entity of the
  kinds alerts name: clusters, deployments, services, releases) with its id and name;
- `slipway_service_ready_endpoints` for each active Service, `slipway_projection_lag_seconds`;
- `slipway_jetstream_consumer_pending_messages` and `..._ack_pending_messages` per durable
  consumer of the service;
- security: `slipway_image_findings` (an image's latest scan, by severity; the image-builder)
  and `slipway_workload_runs_as_root` (1 for a deployment whose image runs as root, else 0;
  the workload-manager).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from faststream.nats.prometheus import NatsPrometheusMiddleware
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

BUS_PREFIX = "slipway_bus"
# Kinds whose entities each get a `slipway_entity_status` series (alerts name them by id).
PER_ENTITY_KINDS = frozenset({"minikube_cluster", "deployment", "service", "release"})
PER_ENTITY_LIMIT = 1000  # per kind and service: a bound on the series one scrape carries
JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

JOBS = Counter("slipway_jobs_total", "Jobs run, by kind and outcome", ["kind", "outcome"])
JOB_DURATION = Histogram(
    "slipway_job_duration_seconds",
    "How long one run of a job took, by kind and outcome",
    ["kind", "outcome"],
    buckets=JOB_BUCKETS,
)
OUTBOX_BACKLOG = Gauge(
    "slipway_outbox_backlog", "Outbox messages committed and not yet published", ["service"]
)
OUTBOX_OLDEST = Gauge(
    "slipway_outbox_oldest_pending_seconds",
    "Age of the oldest outbox message not yet published (0: none)",
    ["service"],
)
RELAY_LAG = Histogram(
    "slipway_relay_lag_seconds",
    "Time from an outbox commit to its publish on JetStream",
    ["service"],
    buckets=LAG_BUCKETS,
)
EVENTS_PUBLISHED = Counter(
    "slipway_events_published_total",
    "Events and jobs the outbox relay published, by entity and event",
    ["service", "entity", "event"],
)
ENTITIES = Gauge("slipway_entities", "Entities by kind and status", ["service", "kind", "status"])
ENTITY_STATUS = Gauge(
    "slipway_entity_status",
    "1 for each entity of the kinds alerts name, labelled with its current status",
    ["kind", "id", "name", "status"],
)
SERVICE_ENDPOINTS = Gauge(
    "slipway_service_ready_endpoints",
    "Ready pod addresses behind each active Kubernetes Service Slipway manages",
    ["id", "name", "namespace"],
)
PROJECTION_LAG = Histogram(
    "slipway_projection_lag_seconds",
    "Time from an event to its projection in a consuming service",
    ["service"],
    buckets=LAG_BUCKETS,
)
CONSUMER_PENDING = Gauge(
    "slipway_jetstream_consumer_pending_messages",
    "Messages on the stream the durable consumer has not been delivered yet",
    ["stream", "consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "slipway_jetstream_consumer_ack_pending_messages",
    "Messages delivered to the durable consumer and not yet acknowledged",
    ["stream", "consumer"],
)
IMAGE_FINDINGS = Gauge(
    "slipway_image_findings",
    "Findings of each image's latest finished scan, by severity (lower case)",
    ["id", "name", "severity"],
)
RUNS_AS_ROOT = Gauge(
    "slipway_workload_runs_as_root",
    "1 for each deployment whose image runs as root (per its scan), else 0",
    ["id", "name", "namespace"],
)


def bus_middleware(service: str) -> NatsPrometheusMiddleware:
    """FastStream's Prometheus middleware for `service`'s broker (metrics `slipway_bus_*`)."""
    return NatsPrometheusMiddleware(registry=REGISTRY, app_name=service, metrics_prefix=BUS_PREFIX)


def serve(host: str, port: int) -> Callable[[], None]:
    """Serve `/metrics` on `host:port` in a thread; returns what stops it."""
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def observe_job(subject: str, outcome: str, duration_s: float) -> None:
    """Count one run of the job on `subject` (`slipway.jobs.<entity>.<name>`) and its time."""
    kind = subject.removeprefix("slipway.jobs.") or "unknown"
    JOBS.labels(kind, outcome).inc()
    JOB_DURATION.labels(kind, outcome).observe(duration_s)


def observe_published(service: str, subject: str, committed_at: datetime | None) -> None:
    """Count one message the relay published (`slipway.<events|jobs>.<entity>.<name>`) and
    time it from its commit."""
    parts = subject.split(".")
    if len(parts) >= 4 and parts[1] == "events":
        EVENTS_PUBLISHED.labels(service, parts[2], parts[3]).inc()
    if committed_at is not None:
        lag = (datetime.now(UTC) - committed_at).total_seconds()
        RELAY_LAG.labels(service).observe(max(lag, 0.0))


async def sample_database(service: str, db: Any, outbox: str, collections: dict[str, str]) -> None:
    """Set the outbox and entity gauges of `service` from its database `db` (a PyMongo
    AsyncDatabase); `collections` maps each entity kind to its collection."""
    pending = db[outbox]
    OUTBOX_BACKLOG.labels(service).set(await pending.count_documents({"published_at": None}))
    oldest = await pending.find_one({"published_at": None}, sort=[("_id", 1)])
    age = 0.0
    if oldest is not None and oldest.get("created_at") is not None:
        age = max((datetime.now(UTC) - oldest["created_at"]).total_seconds(), 0.0)
    OUTBOX_OLDEST.labels(service).set(age)
    for kind, collection in collections.items():
        counts = await db[collection].aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        for status in _statuses_of(ENTITIES, service, kind):
            ENTITIES.labels(service, kind, status).set(0)  # a status no entity holds any more
        for row in await counts.to_list():
            ENTITIES.labels(service, kind, str(row["_id"])).set(row["n"])
        if kind in PER_ENTITY_KINDS:
            await _sample_each(db[collection], kind)


async def _sample_each(collection: Any, kind: str) -> None:
    fields = {"_id": 1, "name": 1, "status": 1, "namespace": 1, "endpoints": 1}
    found = collection.find({}, fields).limit(PER_ENTITY_LIMIT)
    seen: set[tuple[str, ...]] = set()
    active: set[tuple[str, ...]] = set()
    for doc in await found.to_list():
        entity_id, name = str(doc["_id"]), str(doc.get("name", ""))
        labels: tuple[str, ...] = (kind, entity_id, name, str(doc.get("status", "")))
        ENTITY_STATUS.labels(*labels).set(1)
        seen.add(labels)
        if kind == "service" and doc.get("status") == "active":
            service = (entity_id, name, str(doc.get("namespace", "")))
            SERVICE_ENDPOINTS.labels(*service).set(len(doc.get("endpoints") or []))
            active.add(service)
    for stale in _label_sets(ENTITY_STATUS):
        if stale[0] == kind and stale not in seen:
            ENTITY_STATUS.remove(*stale)  # deleted, or moved to another status
    if kind == "service":
        for gone in set(_label_sets(SERVICE_ENDPOINTS)) - active:
            SERVICE_ENDPOINTS.remove(*gone)


async def sample_image_findings(images: Any) -> None:
    """Set `slipway_image_findings` from the `scan.counts` of each image in `images` (the
    image-builder's collection); an image deleted or re-scanned clean loses its series."""
    fields = {"_id": 1, "name": 1, "tag": 1, "scan.counts": 1}
    found = images.find({"scan.counts": {"$exists": True}}, fields).limit(PER_ENTITY_LIMIT)
    seen: set[tuple[str, ...]] = set()
    for doc in await found.to_list():
        name = f"{doc.get('name', '')}:{doc.get('tag', '')}"
        for severity, count in ((doc.get("scan") or {}).get("counts") or {}).items():
            labels = (str(doc["_id"]), name, str(severity).lower())
            IMAGE_FINDINGS.labels(*labels).set(count)
            seen.add(labels)
    _remove_all_but(IMAGE_FINDINGS, seen)


async def sample_root_workloads(deployments: Any, images: str) -> None:
    """Set `slipway_workload_runs_as_root` for each deployment in `deployments` from the
    `runs_as_root` of its image's row in the collection named `images` (same database)."""
    image_of = {"$lookup": {"from": images, "localField": "image_id", "foreignField": "_id",
                            "as": "img"}}  # fmt: skip
    shown = {"$project": {"name": 1, "namespace": 1, "root": {"$first": "$img.runs_as_root"}}}
    rows = await deployments.aggregate([{"$limit": PER_ENTITY_LIMIT}, image_of, shown])
    seen: set[tuple[str, ...]] = set()
    for doc in await rows.to_list():
        labels = (str(doc["_id"]), str(doc.get("name", "")), str(doc.get("namespace", "")))
        RUNS_AS_ROOT.labels(*labels).set(1 if doc.get("root") else 0)
        seen.add(labels)
    _remove_all_but(RUNS_AS_ROOT, seen)


def _remove_all_but(metric: Gauge, kept: set[tuple[str, ...]]) -> None:
    for stale in set(_label_sets(metric)) - kept:
        metric.remove(*stale)


def observe_projection(service: str, event_time: str | None) -> None:
    """Time one event from its `time` (CloudEvents, ISO-8601) to its projection, now."""
    if event_time:
        lag = (datetime.now(UTC) - datetime.fromisoformat(event_time)).total_seconds()
        PROJECTION_LAG.labels(service).observe(max(lag, 0.0))


def durable_consumers(broker: Any) -> list[tuple[str, str]]:
    """(stream, durable) of each durable JetStream consumer `broker` (FastStream) subscribes."""
    found = []
    for subscriber in broker.subscribers:
        stream, config = getattr(subscriber, "stream", None), getattr(subscriber, "config", None)
        durable = getattr(config, "durable_name", None)
        if stream is not None and durable:
            found.append((str(stream.name), str(durable)))
    return found


async def sample_consumers(js: Any, consumers: list[tuple[str, str]]) -> None:
    """Set the pending gauges of each (stream, durable) consumer (`js`: nats-py's
    JetStreamContext; a service may inspect its own consumers only)."""
    for stream, durable in consumers:
        info = await js.consumer_info(stream, durable)
        CONSUMER_PENDING.labels(stream, durable).set(info.num_pending or 0)
        CONSUMER_ACK_PENDING.labels(stream, durable).set(info.num_ack_pending or 0)


def _label_sets(metric: Gauge) -> list[tuple[str, ...]]:
    # prometheus_client keeps each child under its label values
    return [tuple(labels) for labels in metric._metrics]


def _statuses_of(metric: Gauge, service: str, kind: str) -> list[str]:
    return [labels[2] for labels in _label_sets(metric) if labels[:2] == (service, kind)]
