"""Webhooks from a real gateway (its own NATS server, a real MongoDB) to a real HTTP
receiver on 127.0.0.1: subscriptions, signed CloudEvents deliveries verified with the
Standard Webhooks library, order, retries, the backlog after an outage, disabling, the
allow-list, and two gateway replicas delivering each event once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
import pytest_asyncio
import slipway_devstack as devstack
from nats.aio.client import Client
from pymongo import AsyncMongoClient
from standardwebhooks.webhooks import Webhook as Verifier

from slipway_contracts import subjects
from slipway_gateway.settings import GatewaySettings
from slipway_libs.messaging import ensure_streams
from tests.events import cloud_event, publish_event, read_events
from tests.service.gateway.conftest import RunningGateway, assert_problem, serving
from tests.waiting import eventually
from tests.webhook_receiver import Receiver

FAST = {
    "webhook_backoff_initial_s": 0.2,
    "webhook_backoff_max_s": 0.5,
    "webhook_max_attempts": 4,
    "webhook_poll_interval_s": 0.1,
    "webhook_timeout_s": 2,
}


@pytest.fixture(scope="module")
def webhook_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS server of the module's own: the webhook consumer is shared by every gateway
    on a server, and these gateways keep their subscriptions in databases of their own."""
    port = devstack.free_port()
    server = devstack.start_nats(Path(tmp_path_factory.mktemp("webhook-nats")), port)
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def relay(webhook_nats: str) -> AsyncIterator[Client]:
    """A service's connection, publishing events as its outbox relay does."""
    nc = await nats.connect(webhook_nats)
    await ensure_streams(nc.jetstream())
    try:
        yield nc
    finally:
        await nc.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def hooks(
    gateway_settings: Callable[..., GatewaySettings], webhook_nats: str, relay: Client
) -> AsyncIterator[RunningGateway]:
    async with serving(gateway_settings(nats_url=webhook_nats, **FAST)) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    running = await Receiver().up()
    try:
        yield running
    finally:
        await running.down()


async def publish(relay: Client, entity: str, name: str, entity_id: str = "e-1") -> dict[str, Any]:
    event = cloud_event(entity, name, entity_id)
    await publish_event(relay, event)
    return event


async def subscribe(client: httpx.AsyncClient, url: str, *events: str) -> dict[str, Any]:
    response = await client.post("/api/webhooks", json={"url": url, "events": list(events)})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def deliveries(client: httpx.AsyncClient, webhook_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/webhooks/{webhook_id}/deliveries", params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_subscription_shows_its_secret_once_and_keeps_it_encrypted(
    hooks: RunningGateway, receiver: Receiver, mongodb_uri: str
) -> None:
    created = await subscribe(hooks.client, receiver.url, "io.slipway.deployment.*")
    assert created["secret"].startswith("whsec_")
    assert created["status"] == "active" and created["events"] == ["io.slipway.deployment.*"]

    shown = (await hooks.client.get(f"/api/webhooks/{created['id']}")).json()
    listed = (await hooks.client.get("/api/webhooks")).json()["items"]
    assert "secret" not in shown and all("secret" not in w for w in listed)
    assert created["id"] in {w["id"] for w in listed}
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        row = await client[hooks.settings.database]["webhooks"].find_one({"_id": created["id"]})
    finally:
        await client.close()
    assert row is not None and created["secret"] not in json.dumps(row, default=str)
    assert created["secret"].removeprefix("whsec_") not in json.dumps(row, default=str)


async def test_deliveries_are_signed_cloudevents_in_order_each_once(
    hooks: RunningGateway, receiver: Receiver, relay: Client
) -> None:
    created = await subscribe(hooks.client, receiver.url, "io.slipway.deployment.*")
    sent = [await publish(relay, subjects.DEPLOYMENT, n) for n in ("created", "running")]
    await publish(relay, subjects.SERVICE, "created")  # not matched: never delivered
    sent.append(await publish(relay, subjects.DEPLOYMENT, "updated"))

    await eventually(lambda: len(receiver.received) >= 3, what="three deliveries")
    await eventually(
        lambda: deliveries_done(hooks.client, created["id"], 3), what="the delivery log"
    )
    assert len(receiver.received) == 3
    verifier = Verifier(created["secret"])
    for got, event in zip(receiver.received, sent, strict=True):
        assert got.headers["content-type"].startswith("application/cloudevents+json")
        assert got.headers["webhook-id"] == event["id"]
        assert verifier.verify(got.body, got.headers) == event
    log = await deliveries(hooks.client, created["id"])
    assert [(d["outcome"], d["status_code"], d["attempt"]) for d in log] == [
        ("delivered", 200, 1)
    ] * 3
    assert [d["event_id"] for d in reversed(log)] == [e["id"] for e in sent]


async def deliveries_done(client: httpx.AsyncClient, webhook_id: str, count: int) -> bool:
    log = await deliveries(client, webhook_id)
    return sum(d["outcome"] == "delivered" for d in log) >= count


async def test_a_receiver_that_was_down_gets_the_backlog_in_order(
    hooks: RunningGateway, receiver: Receiver, relay: Client
) -> None:
    created = await subscribe(hooks.client, receiver.url, "io.slipway.release.*")
    await receiver.down()
    sent = [await publish(relay, subjects.RELEASE, n) for n in ("created", "updating", "deployed")]
    await eventually(
        lambda: retried(hooks.client, created["id"]), what="a failed attempt", timeout_s=10
    )
    await receiver.up()  # the same port again

    await eventually(lambda: len(receiver.received) >= 3, what="the backlog", timeout_s=20)
    assert [b["id"] for b in receiver.bodies()] == [e["id"] for e in sent]
    log = await deliveries(hooks.client, created["id"])
    first = [d for d in log if d["event_id"] == sent[0]["id"]]
    assert first[0]["outcome"] == "delivered" and first[0]["attempt"] >= 2
    assert all(d["outcome"] == "retrying" for d in first[1:])
    assert "ConnectError" in str(first[-1]["error"])
    webhook = (await hooks.client.get(f"/api/webhooks/{created['id']}")).json()
    assert webhook["status"] == "active"


async def retried(client: httpx.AsyncClient, webhook_id: str) -> bool:
    return any(d["outcome"] == "retrying" for d in await deliveries(client, webhook_id))


async def test_repeated_failure_disables_the_subscription_with_an_event(
    hooks: RunningGateway, receiver: Receiver, relay: Client
) -> None:
    receiver.status = 500
    created = await subscribe(hooks.client, receiver.url, "io.slipway.helm_chart.valid.v1")
    failing = await publish(relay, subjects.HELM_CHART, "valid", "c1")
    queued = await publish(relay, subjects.HELM_CHART, "valid", "c2")
    path = f"/api/webhooks/{created['id']}"

    async def disabled() -> dict[str, Any] | None:
        webhook: dict[str, Any] = (await hooks.client.get(path)).json()
        return webhook if webhook["status"] == "disabled" else None

    webhook = await eventually(disabled, what="the subscription disabled", timeout_s=20)
    assert str(FAST["webhook_max_attempts"]) in webhook["disabled_reason"]
    assert "500" in webhook["disabled_reason"]
    assert len(receiver.received) == FAST["webhook_max_attempts"]  # never the second event
    assert {r.headers["webhook-id"] for r in receiver.received} == {failing["id"]}
    wanted = {(failing["id"], "given_up"), (queued["id"], "dropped")}

    async def both_logged() -> set[tuple[str, str]] | None:
        log = await deliveries(hooks.client, created["id"])
        outcomes = {(d["event_id"], d["outcome"]) for d in log}
        return outcomes if wanted <= outcomes else None

    outcomes = await eventually(both_logged, what="the give-up and the drop logged")
    assert wanted <= outcomes

    async def announced() -> list[Any]:
        found = await read_events(relay, subjects.event(subjects.WEBHOOK, "disabled"), 0.2)
        return [e for _, e in found if e["subject"] == created["id"]]

    (event,) = await eventually(announced, what="the webhook.disabled event")
    assert event["type"] == "io.slipway.webhook.disabled.v1"
    assert event["data"]["status"] == "disabled" and "secret" not in event["data"]
    assert created["secret"] not in json.dumps(event)
    # a later event reaches a subscription still active, never the disabled one
    witness = await Receiver().up()
    try:
        await subscribe(hooks.client, witness.url, "io.slipway.helm_chart.*")
        receiver.status = 200
        later = await publish(relay, subjects.HELM_CHART, "valid", "c3")
        await eventually(lambda: witness.bodies() == [later], what="the witness's delivery")
    finally:
        await witness.down()
    assert len(receiver.received) == FAST["webhook_max_attempts"]
    # re-enabled once the receiver is fixed: what comes next arrives, nothing from before
    enabled = (await hooks.client.post(f"{path}/enable")).json()
    assert enabled["status"] == "active" and enabled["disabled_reason"] is None
    assert enabled["revision"] == webhook["revision"] + 1
    after = await publish(relay, subjects.HELM_CHART, "valid", "c4")
    await eventually(
        lambda: receiver.bodies()[FAST["webhook_max_attempts"] :] == [after],
        what="the re-enabled subscription's delivery",
    )
    assert_problem(await hooks.client.post("/api/webhooks/no-such-hook/enable"), 404)


async def test_two_gateway_replicas_deliver_each_event_once(
    hooks: RunningGateway, receiver: Receiver, relay: Client
) -> None:
    created = await subscribe(hooks.client, receiver.url, "io.slipway.minikube_cluster.*")
    twin = hooks.settings.model_copy(update={"instance": "replica-2"})
    async with serving(twin):
        sent = [
            await publish(relay, subjects.MINIKUBE_CLUSTER, "updated", f"m{i}") for i in range(20)
        ]
        await eventually(lambda: len(receiver.received) >= 20, what="20 deliveries")
        await eventually(lambda: deliveries_done(hooks.client, created["id"], 20), what="the log")
    assert [r.headers["webhook-id"] for r in receiver.received] == [e["id"] for e in sent]


async def test_a_subscription_made_on_another_replica_gets_the_next_events(
    hooks: RunningGateway, receiver: Receiver, relay: Client
) -> None:
    # This gateway knows the active subscriptions (it keeps them while its change stream
    # is open); another replica then makes one and stops, so this one takes the events.
    store = hooks.app.state.webhooks
    await eventually(lambda: store.subscribers.fresh, what="the webhooks' change stream")
    await store.active()
    twin = hooks.settings.model_copy(update={"instance": "replica-3"})
    async with serving(twin) as replica:
        created = await subscribe(replica.client, receiver.url, "io.slipway.helm_chart.*")

    sent = await publish(relay, subjects.HELM_CHART, "created", "c-1")

    await eventually(lambda: deliveries_done(hooks.client, created["id"], 1), what="delivery")
    assert [r.headers["webhook-id"] for r in receiver.received] == [sent["id"]]


async def test_targets_outside_the_allow_list_are_refused_naming_url(
    hooks: RunningGateway,
) -> None:
    for url in ("http://10.1.2.3/hook", "http://169.254.169.254/latest", "ftp://127.0.0.1/x"):
        body = {"url": url, "events": ["*"]}
        assert_problem(await hooks.client.post("/api/webhooks", json=body), 422, {"url"})
    body = {"url": "http://127.0.0.1:1/x", "events": []}
    assert_problem(await hooks.client.post("/api/webhooks", json=body), 422, {"events"})


async def test_webhooks_are_for_admins(hooks: RunningGateway, receiver: Receiver) -> None:
    made = await hooks.client.post("/api/tokens", json={"name": "op", "role": "operator"})
    async with hooks.client_as(made.json()["token"]) as operator:
        body = {"url": receiver.url, "events": ["*"]}
        problem = assert_problem(await operator.post("/api/webhooks", json=body), 403)
        assert problem["required_role"] == "admin"
        assert_problem(await operator.get("/api/webhooks"), 403)


async def test_a_deleted_subscription_is_gone(hooks: RunningGateway, receiver: Receiver) -> None:
    created = await subscribe(hooks.client, receiver.url, "*")
    assert (await hooks.client.delete(f"/api/webhooks/{created['id']}")).status_code == 204
    assert_problem(await hooks.client.get(f"/api/webhooks/{created['id']}"), 404)
    assert_problem(await hooks.client.get(f"/api/webhooks/{created['id']}/deliveries"), 404)
