"""The embedded stack's NATS permissions against what the services really declare: every
subject a worker subscribes to or publishes on, and every durable consumer it reads, is
within its principal's permissions (a new handler or consumer not added there fails here,
not in production); and what the other principals must never do, they may not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from faststream import FastStream
from slipway_devstack.credentials import (
    DURABLE_CONSUMERS,
    SERVICE_ENTITIES,
    authorization_block,
    nats_permissions,
)

from slipway_contracts import subjects
from slipway_contracts.access import PRINCIPALS, SERVICE_PRINCIPALS


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` one or more trailing tokens."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > i
        if i >= len(tokens) or (token != "*" and token != tokens[i]):
            return False
    return len(tokens) == len(wanted)


def may(principal: str, direction: str, subject: str) -> bool:
    permissions = nats_permissions(principal)
    if permissions is None:
        return True
    rules: dict[str, list[str]] = permissions.get(direction, {})
    allowed = any(matches(p, subject) for p in rules.get("allow", []))
    return allowed and not any(matches(p, subject) for p in rules.get("deny", []))


def may_publish(principal: str, subject: str) -> bool:
    return may(principal, "publish", subject)


def may_subscribe(principal: str, subject: str) -> bool:
    return may(principal, "subscribe", subject)


def image_builder() -> FastStream:
    from slipway_image_builder.app import create_app
    from slipway_image_builder.settings import ImageBuilderSettings

    return create_app(ImageBuilderSettings())


def chart_validator() -> FastStream:
    from slipway_chart_validator.app import create_app
    from slipway_chart_validator.settings import ChartValidatorSettings

    return create_app(ChartValidatorSettings())


def cluster_manager() -> FastStream:
    from slipway_cluster_manager.app import create_app
    from slipway_cluster_manager.settings import ClusterManagerSettings

    return create_app(ClusterManagerSettings())


def workload_manager() -> FastStream:
    from slipway_workload_manager.app import create_app
    from slipway_workload_manager.settings import WorkloadManagerSettings

    return create_app(WorkloadManagerSettings())


APPS: dict[str, Callable[[], FastStream]] = {
    "image-builder": image_builder,
    "chart-validator": chart_validator,
    "cluster-manager": cluster_manager,
    "workload-manager": workload_manager,
}


def test_the_matcher_follows_nats_wildcards() -> None:
    assert matches("slipway.*.cmd.>", "slipway.deployment.cmd.scale")
    assert not matches("slipway.*.cmd.>", "slipway.deployment.cmd")
    assert not matches("slipway.events.deployment.>", "slipway.events.service.created")
    assert matches(
        "$JS.ACK.SLIPWAY_JOBS.image-builder-build.>",
        "$JS.ACK.SLIPWAY_JOBS.image-builder-build.1.2.3.4.0",
    )


@pytest.mark.parametrize("service", SERVICE_PRINCIPALS)
def test_a_service_may_subscribe_to_and_pull_from_all_it_declares(service: str) -> None:
    broker: Any = APPS[service]().broker
    for subscriber in broker.subscribers:
        stream = getattr(subscriber, "stream", None)
        if stream is None:
            assert may_subscribe(service, subscriber.subject.broker_address), subscriber.subject
            continue
        durable = subscriber.extra_options["durable"]
        assert durable in DURABLE_CONSUMERS[service][stream.name]
        assert may_publish(service, f"$JS.API.CONSUMER.MSG.NEXT.{stream.name}.{durable}")
        assert may_publish(service, f"$JS.ACK.{stream.name}.{durable}.1.7.7.1796052438.0")


@pytest.mark.parametrize("service", SERVICE_PRINCIPALS)
def test_a_service_may_publish_all_it_declares_and_keep_the_streams(service: str) -> None:
    broker: Any = APPS[service]().broker
    published = [p.subject.template.replace("{id}", "e-1") for p in broker.publishers]

    assert subjects.audit(service) in published
    for subject in published:
        assert may_publish(service, subject), subject
    for stream in (subjects.EVENTS_STREAM, subjects.JOBS_STREAM, subjects.AUDIT_STREAM):
        assert may_publish(service, f"$JS.API.STREAM.UPDATE.{stream}")


@pytest.mark.parametrize("service", SERVICE_PRINCIPALS)
def test_a_service_speaks_only_for_its_own_entities(service: str) -> None:
    for other, entities in SERVICE_ENTITIES.items():
        if other == service:
            continue
        for entity in entities:
            assert not may_subscribe(service, subjects.command(entity, "create"))
            assert not may_subscribe(service, subjects.query(entity, "get"))
            assert not may_publish(service, subjects.event(entity, "created"))
            assert not may_publish(service, subjects.job(entity, "run"))
        assert not may_subscribe(service, subjects.health(other))
        assert not may_publish(service, subjects.audit(other))
    assert not may_publish(service, subjects.command(subjects.CONTAINER_IMAGE, "delete"))


def test_only_the_workload_manager_asks_other_services() -> None:
    source = subjects.query(subjects.HELM_CHART, "source")
    assert may_publish("workload-manager", source)
    assert may_publish(
        "workload-manager", subjects.command(subjects.MINIKUBE_CLUSTER, "load_image")
    )
    assert not may_publish(
        "workload-manager", subjects.command(subjects.MINIKUBE_CLUSTER, "delete")
    )
    assert not may_publish("image-builder", source)


@pytest.mark.parametrize("principal", ["gateway", "integration", "events-reader"])
def test_no_client_publishes_events_jobs_audit_or_progress(principal: str) -> None:
    for subject in (
        subjects.event(subjects.CONTAINER_IMAGE, "built"),
        subjects.job(subjects.CONTAINER_IMAGE, "build"),
        subjects.audit("image-builder"),
        subjects.progress(subjects.CONTAINER_IMAGE, "e-1"),
        # a command subject spelled to look like an event is an event all the same
        "slipway.events.cmd.x",
    ):
        assert not may_publish(principal, subject), subject


def test_the_gateway_sends_commands_queries_and_health_requests_and_keeps_its_audit_feed() -> None:
    assert may_publish("gateway", subjects.command(subjects.RELEASE, "rollback"))
    assert may_publish("gateway", subjects.query(subjects.HELM_CHART, "list"))
    assert may_publish("gateway", subjects.health("cluster-manager"))
    audit = subjects.AUDIT_STREAM
    assert may_publish("gateway", f"$JS.API.CONSUMER.CREATE.{audit}.gateway-audit.slipway.audit.>")
    assert may_publish("gateway", f"$JS.API.CONSUMER.MSG.NEXT.{audit}.gateway-audit")
    assert may_publish("gateway", f"$JS.ACK.{audit}.gateway-audit.1.1.1.1.0")
    assert not may_publish("gateway", f"$JS.API.CONSUMER.MSG.NEXT.{subjects.JOBS_STREAM}.x")
    assert not may_subscribe("gateway", subjects.command(subjects.RELEASE, "rollback"))


def test_the_gateway_reads_events_and_publishes_only_its_webhook_events() -> None:
    events = subjects.EVENTS_STREAM
    # server-sent events: an ephemeral consumer per reader
    assert may_publish("gateway", f"$JS.API.CONSUMER.CREATE.{events}.sse-1.slipway.events.>")
    assert may_publish("gateway", f"$JS.API.CONSUMER.MSG.NEXT.{events}.sse-1")
    assert may_publish("gateway", f"$JS.API.CONSUMER.DELETE.{events}.sse-1")
    # webhook deliveries: its durable, acked
    assert may_publish("gateway", f"$JS.API.CONSUMER.MSG.NEXT.{events}.gateway-webhooks")
    assert may_publish("gateway", f"$JS.ACK.{events}.gateway-webhooks.1.1.1.1.0")
    assert may_publish("gateway", subjects.event(subjects.WEBHOOK, "disabled"))
    assert not may_publish("gateway", subjects.event(subjects.DEPLOYMENT, "running"))
    projections = f"{events}.workload-manager-projections"
    assert not may_publish("gateway", f"$JS.API.CONSUMER.MSG.NEXT.{projections}")
    for principal in ("events-reader", "integration"):
        assert not may_publish(principal, f"$JS.API.CONSUMER.DELETE.{events}.gateway-webhooks")
        assert not may_publish(principal, subjects.event(subjects.WEBHOOK, "disabled"))


def test_the_events_reader_reads_events_and_nothing_else() -> None:
    events = subjects.EVENTS_STREAM
    assert may_publish("events-reader", f"$JS.API.CONSUMER.CREATE.{events}.r1.slipway.events.>")
    assert may_publish("events-reader", f"$JS.API.CONSUMER.MSG.NEXT.{events}.r1")
    assert may_publish("events-reader", f"$JS.API.STREAM.MSG.GET.{events}")
    assert may_publish("events-reader", f"$JS.ACK.{events}.r1.1.1.1.1.0")
    assert not may_publish("events-reader", subjects.command(subjects.DEPLOYMENT, "create"))
    assert not may_publish("events-reader", subjects.query(subjects.DEPLOYMENT, "get"))
    assert not may_publish("events-reader", f"$JS.API.CONSUMER.CREATE.{subjects.JOBS_STREAM}")
    assert not may_publish("events-reader", f"$JS.API.STREAM.DELETE.{events}")
    assert not may_publish("events-reader", f"$JS.API.STREAM.PURGE.{events}")
    # the workload-manager's projection consumer is its own: no reader deletes or drains it
    projections = f"{events}.workload-manager-projections"
    for principal in ("events-reader", "integration"):
        assert not may_publish(principal, f"$JS.API.CONSUMER.DELETE.{projections}")
        assert not may_publish(principal, f"$JS.API.CONSUMER.MSG.NEXT.{projections}")


def test_integration_sends_commands_and_reads_events() -> None:
    assert may_publish("integration", subjects.command(subjects.DEPLOYMENT, "scale"))
    assert may_publish("integration", f"$JS.API.CONSUMER.MSG.NEXT.{subjects.EVENTS_STREAM}.mine")
    assert may_subscribe("integration", subjects.progress(subjects.CONTAINER_IMAGE, "e-1"))
    assert not may_subscribe("integration", subjects.command(subjects.DEPLOYMENT, "scale"))


def test_only_the_workload_manager_asks_for_registry_passwords() -> None:
    query = subjects.pull_secret()

    assert may_publish("workload-manager", query)
    assert may_subscribe("image-builder", query)
    for principal in PRINCIPALS:
        if principal != "workload-manager":
            assert not may_publish(principal, query), principal


def test_every_principal_has_a_user_and_admin_may_do_all_else() -> None:
    block = authorization_block({p: f"U{p.upper()}" for p in PRINCIPALS})

    assert all(f"# {p}\n" in block for p in PRINCIPALS)
    assert all(nats_permissions(p) is not None for p in PRINCIPALS)
    assert may_publish("admin", subjects.command(subjects.DEPLOYMENT, "scale"))
    assert may_subscribe("admin", subjects.EVENTS_WILDCARD)
    with pytest.raises(ValueError, match="unknown NATS principal"):
        nats_permissions("somebody")
