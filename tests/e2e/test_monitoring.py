"""Monitoring and alerting on a whole stack, as `make run` sets it up but on free ports: each
worker serves /metrics, a real Prometheus (Debian's) scrapes every service and evaluates the
checked-in rules, a real Alertmanager delivers to the gateway's webhook with the shared
secret, and the alerts are listed by `GET /api/alerts` and published as events.

Prometheus here scrapes and evaluates every second (`make run`: every 5 s) so that the
rules' `for:` clauses decide how long an alert takes, not the intervals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import slipway_devstack as devstack
from slipway_devstack import monitoring

from slipway_contracts import subjects
from tests.e2e.test_workloads import build_image, deploy, deployment_body, engine, start_cluster
from tests.events import replay
from tests.stack import Stack, wait_status
from tests.waiting import poll

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        monitoring.prometheus_binary() is None or monitoring.alertmanager_binary() is None,
        reason="Debian's prometheus and prometheus-alertmanager are not installed",
    ),
]
WORKERS = list(monitoring.METRICS_PORTS)
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def observed(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Stack, monitoring.Monitoring]]:
    """A stack whose workers serve /metrics, with Prometheus and Alertmanager beside it."""
    base = tmp_path_factory.mktemp("monitored")
    stack = Stack(state_dir=base / "state", build_root=base / "builds")
    ports = {name: devstack.free_port() for name in Stack.service_names()}
    setup = monitoring.Monitoring(
        stack.state_dir,
        stack.base_url,
        targets={
            "slipway-gateway": [f"127.0.0.1:{stack.http_port}"],
            **{f"slipway-{name}": [f"127.0.0.1:{port}"] for name, port in ports.items()},
        },
        prometheus_port=devstack.free_port(),
        alertmanager_port=devstack.free_port(),
        scrape_interval="1s",
        evaluation_interval="1s",
        group_wait="1s",
        group_interval="1s",
    )
    stack.process_overrides = {
        **{name: {"SLIPWAY_METRICS_PORT": str(port)} for name, port in ports.items()},
        "gateway": {
            "SLIPWAY_ALERTMANAGER_SECRET_FILE": str(monitoring.ensure_secret(stack.state_dir)),
            "SLIPWAY_PROMETHEUS_URL": setup.prometheus_url,
            "SLIPWAY_ALERTMANAGER_URL": setup.alertmanager_url,
        },
    }
    stack.env_overrides = {
        "SLIPWAY_METRICS_INTERVAL_S": "1",
        "SLIPWAY_PROBE_INTERVAL_S": "1",
        "SLIPWAY_USAGE_INTERVAL_S": "1",
    }
    setup.write()
    logs = stack.state_dir / "logs"
    servers: list[devstack.ManagedProcess] = []
    try:
        stack.start()
        prometheus, alertmanager = monitoring.prometheus_binary(), monitoring.alertmanager_binary()
        assert prometheus and alertmanager
        servers = [
            devstack.ManagedProcess(
                "alertmanager", setup.alertmanager_argv(alertmanager), logs / "alertmanager.log"
            ).start(),
            devstack.ManagedProcess(
                "prometheus", setup.prometheus_argv(prometheus), logs / "prometheus.log"
            ).start(),
        ]
        yield stack, setup
    finally:
        devstack.stop_together(servers, 15)
        stack.stop()


@pytest.fixture(scope="module")
def client(observed: tuple[Stack, monitoring.Monitoring]) -> Iterator[httpx.Client]:
    with observed[0].client() as session:
        yield session


def prometheus(setup: monitoring.Monitoring, path: str, **params: str) -> Any:
    response = httpx.get(f"{setup.prometheus_url}{path}", params=params, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def firing_in_prometheus(setup: monitoring.Monitoring, alertname: str, **labels: str) -> Any:
    alerts = prometheus(setup, "/api/v1/alerts")["alerts"]
    return [
        a
        for a in alerts
        if a["labels"]["alertname"] == alertname
        and a["state"] == "firing"
        and all(a["labels"].get(k) == v for k, v in labels.items())
    ]


def listed_alert(client: httpx.Client, status: str, name: str, target_id: str) -> Any:
    response = client.get("/api/alerts", params={"status": status, "limit": 500})
    assert response.status_code == 200, response.text
    return next(
        (a for a in response.json()["items"] if a["name"] == name and a["target_id"] == target_id),
        None,
    )


def test_prometheus_scrapes_every_slipway_service_and_sees_slipway_metrics(observed, client):
    _, setup = observed
    start_cluster(client, f"mon-{uuid.uuid4().hex[:6]}")  # some commands, jobs and events

    def all_up() -> list[str] | None:
        targets = prometheus(setup, "/api/v1/targets")["activeTargets"]
        up = sorted(t["labels"]["job"] for t in targets if t["health"] == "up")
        return up if len(up) == len(WORKERS) + 1 else None

    assert poll(all_up, timeout_s=60, what="every target up") == sorted(
        ["slipway-gateway", *(f"slipway-{name}" for name in WORKERS)]
    )

    wanted = {
        "slipway_http_requests_total",  # the gateway
        "slipway_bus_received_processed_messages_total",  # commands and queries
        "slipway_bus_received_processed_messages_duration_seconds_bucket",
        "slipway_jobs_total",
        "slipway_job_duration_seconds_bucket",
        "slipway_outbox_backlog",
        "slipway_relay_lag_seconds_bucket",
        "slipway_events_published_total",
        "slipway_entities",
        "slipway_entity_status",
        "slipway_jetstream_consumer_pending_messages",
        "slipway_deployments_total",
        "slipway_projection_lag_seconds_bucket",
    }

    missing = set(wanted)

    def names() -> bool:
        missing.difference_update(prometheus(setup, "/api/v1/label/__name__/values"))
        return not missing

    try:
        poll(names, timeout_s=60, what="every wanted metric name in Prometheus")
    except AssertionError:
        pytest.fail(f"not in Prometheus: {sorted(missing)}")
    running = prometheus(
        setup, "/api/v1/query", query='slipway_entities{kind="minikube_cluster",status="running"}'
    )["result"]
    assert running and float(running[0]["value"][1]) >= 1
    jobs = prometheus(
        setup, "/api/v1/query", query='slipway_jobs_total{kind="minikube_cluster.operate"}'
    )["result"]
    assert jobs and jobs[0]["metric"]["outcome"] == "succeeded"


def test_a_stopped_cluster_alerts_through_alertmanager_into_slipway_and_resolves(observed, client):
    stack, setup = observed
    cluster = start_cluster(client, f"alerting-{uuid.uuid4().hex[:6]}")
    location = f"/api/minikube-clusters/{cluster['id']}"
    assert client.post(f"{location}/stop").status_code == 202
    wait_status(client, location, {"stopped"}, 60)

    poll(
        lambda: firing_in_prometheus(setup, "SlipwayClusterNotRunning", cluster_id=cluster["id"]),
        timeout_s=60,
        what="the alert firing in Prometheus",
    )
    alert = poll(
        lambda: listed_alert(client, "firing", "SlipwayClusterNotRunning", cluster["id"]),
        timeout_s=60,
        what="the alert listed by GET /api/alerts?status=firing",
    )
    assert alert["target_kind"] == "minikube_cluster"
    assert alert["severity"] == "critical"
    assert alert["labels"]["name"] == cluster["name"]
    assert alert["annotations"]["summary"] == f"Cluster {cluster['name']} is stopped"

    def published(event: str) -> Any:
        found = replay(stack.events_reader, subjects.event(subjects.ALERT, event), 0.5)
        return [e for _, e in found if e["subject"] == alert["id"]]

    fired = poll(lambda: published("firing"), timeout_s=30, what="alert.firing published")
    assert fired[0]["type"] == "io.slipway.alert.firing.v1"
    assert fired[0]["data"]["target_id"] == cluster["id"]

    assert client.post(f"{location}/start").status_code == 202
    wait_status(client, location, {"running"}, 60)
    resolved = poll(
        lambda: listed_alert(client, "resolved", "SlipwayClusterNotRunning", cluster["id"]),
        timeout_s=90,
        what="the alert resolved",
    )
    assert resolved["id"] == alert["id"] and resolved["ends_at"] is not None
    poll(lambda: published("resolved"), timeout_s=30, what="alert.resolved published")


def test_a_failed_deployment_raises_its_alert_and_a_running_one_counts_as_delivered(
    observed, client
):
    stack, setup = observed
    cluster = start_cluster(client, f"deploys-{uuid.uuid4().hex[:6]}")
    image = build_image(client, f"e2e/mon-{uuid.uuid4().hex[:8]}")
    running, good = deploy(client, deployment_body(cluster, image, replicas=2))
    assert wait_status(client, good, {"running", "failed"}, 60)["status"] == "running"
    usage = poll(
        lambda: client.get(good).json()["usage"], timeout_s=30, what="the deployment's usage"
    )
    assert len(usage["pods"]) == 2 and usage["cpu"].endswith("m") and usage["memory"].endswith("Mi")
    assert int(usage["cpu"][:-1]) > 0 and int(usage["memory"][:-2]) > 0
    service = {
        "name": f"web-{uuid.uuid4().hex[:6]}",
        "namespace": "default",
        "deployment_id": running["id"],
        "type": "ClusterIP",
        "port": 80,
        "target_port": 8080,
        "protocol": "TCP",
    }
    created = client.post("/api/services", json=service)
    assert created.status_code == 202, created.text
    active = wait_status(client, created.headers["Location"], {"active", "failed"}, 60)
    assert active["status"] == "active", active
    endpoints = f'slipway_service_ready_endpoints{{id="{active["id"]}"}} == 2'
    poll(
        lambda: prometheus(setup, "/api/v1/query", query=endpoints)["result"],
        timeout_s=30,
        what="the Service's two ready endpoints in Prometheus",
    )
    query = f'slipway_deployment_cpu_usage_cores{{deployment_id="{running["id"]}"}}'
    poll(
        lambda: prometheus(setup, "/api/v1/query", query=query)["result"],
        timeout_s=30,
        what="the deployment's CPU usage in Prometheus",
    )
    doomed = build_image(client, f"e2e/mon-doomed-{uuid.uuid4().hex[:8]}")
    engine(stack).images.remove(f"{doomed['name']}:1.0.0", force=True)
    failing, location = deploy(client, deployment_body(cluster, doomed, replicas=1))
    assert wait_status(client, location, {"running", "failed"}, 60)["status"] == "failed"

    alert = poll(
        lambda: listed_alert(client, "firing", "SlipwayDeploymentFailed", failing["id"]),
        timeout_s=60,
        what="the deployment's alert listed",
    )
    assert alert["target_kind"] == "deployment"

    def delivered() -> dict[str, float] | None:
        result = prometheus(setup, "/api/v1/query", query="slipway_deployments_total")["result"]
        counts = {r["metric"]["outcome"]: float(r["value"][1]) for r in result}
        return counts if counts.get("succeeded", 0) >= 1 and counts.get("failed", 0) >= 1 else None

    poll(delivered, timeout_s=30, what="slipway_deployments_total by outcome")

    def lead_times() -> float:
        result = prometheus(
            setup, "/api/v1/query", query="slipway_deployment_lead_time_seconds_count"
        )
        return float(result["result"][0]["value"][1]) if result["result"] else 0.0

    assert poll(lead_times, timeout_s=30, what="a lead time observed") >= 1


def test_the_webhook_takes_only_the_shared_secret_and_names_bad_fields(observed):
    stack, _ = observed
    secret = (stack.state_dir / monitoring.SECRET_FILE).read_text().strip()
    webhook = f"{stack.base_url}{monitoring.WEBHOOK_PATH}"
    body = {"version": "4", "status": "firing", "alerts": [{"status": "firing"}]}
    admin = {"Authorization": f"Bearer {(stack.state_dir / 'admin.token').read_text().strip()}"}
    for headers in ({}, {"Authorization": "Bearer not-the-secret"}, admin):
        refused = httpx.post(webhook, json=body, headers=headers, timeout=10)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert secret not in refused.text
    invalid = httpx.post(
        webhook, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    assert invalid.status_code == 422, invalid.text
    assert invalid.headers["content-type"] == PROBLEM
    fields = {error["field"] for error in invalid.json()["errors"]}
    assert {"alerts.0.labels", "alerts.0.startsAt", "alerts.0.fingerprint"} <= fields
    assert secret not in invalid.text
    log = (stack.state_dir / "logs" / "gateway.log").read_text()
    assert secret not in log


def test_readyz_links_prometheus_and_alertmanager(observed):
    stack, setup = observed
    ready = httpx.get(f"{stack.base_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["monitoring"] == {
        "prometheus": setup.prometheus_url,
        "alertmanager": setup.alertmanager_url,
    }
    assert httpx.get(f"{setup.prometheus_url}/-/ready", timeout=10).status_code == 200
    assert httpx.get(f"{setup.alertmanager_url}/-/ready", timeout=10).status_code == 200
