"""The StatefulSet, DaemonSet, Job, CronJob, volume, disruption and CRD controllers,
driven in-process for exact observation."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from slipway_simcluster.cluster import SimulatedCluster
from slipway_simcluster.cron import CronSchedule
from slipway_simcluster.resources import (
    CRONJOBS,
    CUSTOM_RESOURCE_DEFINITIONS,
    DAEMONSETS,
    JOBS,
    NAMESPACES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    SERVICE_ACCOUNTS,
    STATEFULSETS,
)

from tests.unit.simcluster.conftest import ClusterFactory
from tests.waiting import eventually

IMAGE, IMAGE_V2 = "shop/web:1.0.0", "shop/web:2.0.0"


def pod_template(name: str, image: str = IMAGE, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": image}], **spec},
    }


def statefulset(name: str = "db", replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name),
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
            **spec,
        },
    }


def job(name: str = "migrate", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"template": pod_template(name, restartPolicy="Never"), **spec},
    }


def pods(cluster: SimulatedCluster, namespace: str = "default") -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in cluster.store.objects(PODS, namespace)}


def ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def status_of(cluster: SimulatedCluster, rt: Any, name: str) -> dict[str, Any]:
    return (cluster.store.peek(rt, "default", name) or {}).get("status") or {}


async def test_statefulset_starts_ordered_pods_with_their_own_claims(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster()
    seen_before_ready: list[set[str]] = []

    def watch(event: Any) -> None:
        if event.resource.key == PODS.key and event.type == "ADDED":
            seen_before_ready.append({n for n, p in pods(cluster).items() if not ready(p)})

    cluster.store.add_listener(watch)
    cluster.registry.create(STATEFULSETS, "default", statefulset())

    await eventually(lambda: status_of(cluster, STATEFULSETS, "db").get("readyReplicas") == 3)
    created = pods(cluster)
    claims = {c["metadata"]["name"]: c for c in cluster.store.objects(PERSISTENT_VOLUME_CLAIMS)}
    assert set(created) == {"db-0", "db-1", "db-2"}
    assert all(len(unready) <= 1 for unready in seen_before_ready), "one pod at a time"
    assert created["db-1"]["spec"]["hostname"] == "db-1"
    assert created["db-1"]["spec"]["subdomain"] == "db"
    assert created["db-1"]["spec"]["volumes"] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}}
    ]
    assert {n: c["status"]["phase"] for n, c in claims.items()} == {
        "data-db-0": "Bound",
        "data-db-1": "Bound",
        "data-db-2": "Bound",
    }
    status = status_of(cluster, STATEFULSETS, "db")
    assert status["currentRevision"] == status["updateRevision"]
    assert status["observedGeneration"] == 1


async def test_statefulset_rolls_pods_from_the_highest_ordinal(
    make_cluster: ClusterFactory,
) -> None:
    cluster = await make_cluster()
    cluster.registry.create(STATEFULSETS, "default", statefulset(replicas=2))
    await eventually(lambda: status_of(cluster, STATEFULSETS, "db").get("readyReplicas") == 2)
    old_revision = status_of(cluster, STATEFULSETS, "db")["updateRevision"]
    replaced: list[str] = []
    cluster.store.add_listener(
        lambda e: (
            replaced.append(e.obj["metadata"]["name"])
            if e.resource.key == PODS.key and e.type == "DELETED"
            else None
        )
    )

    updated = copy.deepcopy(cluster.store.get(STATEFULSETS, "default", "db"))
    updated["spec"]["template"]["spec"]["containers"][0]["image"] = IMAGE_V2
    cluster.registry.update(STATEFULSETS, "default", "db", updated)

    def rolled() -> bool:
        status = status_of(cluster, STATEFULSETS, "db")
        return (
            status.get("currentRevision") == status.get("updateRevision") != old_revision
            and status.get("readyReplicas") == 2
        )

    await eventually(rolled)
    status = status_of(cluster, STATEFULSETS, "db")
    assert replaced == ["db-1", "db-0"]
    assert status["currentRevision"] == status["updateRevision"] != old_revision
    assert {p["spec"]["containers"][0]["image"] for p in pods(cluster).values()} == {IMAGE_V2}


async def test_daemonset_runs_one_pod_on_the_node(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(
        DAEMONSETS,
        "default",
        {
            "metadata": {"name": "agent"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": pod_template("agent"),
            },
        },
    )

    await eventually(lambda: status_of(cluster, DAEMONSETS, "agent").get("numberReady") == 1)
    (pod,) = pods(cluster).values()
    status = status_of(cluster, DAEMONSETS, "agent")
    assert pod["spec"]["nodeName"] == "unit"
    assert status["desiredNumberScheduled"] == status["updatedNumberScheduled"] == 1


async def test_job_runs_its_pods_to_completion(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(JOBS, "default", job(completions=3, parallelism=2))

    def complete() -> bool:
        conditions = status_of(cluster, JOBS, "migrate").get("conditions") or []
        return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)

    await eventually(complete)
    status = status_of(cluster, JOBS, "migrate")
    assert status["succeeded"] == 3
    assert "active" not in status
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert status["completionTime"] >= status["startTime"]
    phases = {p["status"]["phase"] for p in pods(cluster).values()}
    assert phases == {"Succeeded"}


async def test_job_without_its_image_stays_active(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    missing = job()
    missing["spec"]["template"]["spec"]["containers"][0]["image"] = "shop/missing:1"
    cluster.registry.create(JOBS, "default", missing)

    await eventually(lambda: status_of(cluster, JOBS, "migrate").get("active") == 1)
    assert "conditions" not in status_of(cluster, JOBS, "migrate")


async def test_finished_job_with_a_ttl_is_deleted(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(JOBS, "default", job(ttlSecondsAfterFinished=0))

    await eventually(lambda: cluster.store.peek(JOBS, "default", "migrate") is None)
    await eventually(lambda: not pods(cluster), what="the job's pods collected")


async def test_cronjob_creates_the_job_that_is_due(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(
        CRONJOBS,
        "default",
        {
            "metadata": {"name": "nightly"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": job()["spec"]}},
        },
    )
    created = cluster.store.get(CRONJOBS, "default", "nightly")["metadata"]["creationTimestamp"]
    due = datetime.fromisoformat(created.replace("Z", "+00:00")).replace(second=0)
    an_hour_later = due + timedelta(hours=1)  # any hour of the day, 23:00 included

    cluster.controllers.cronjobs.reconcile("default", "nightly", now=an_hour_later)

    (made,) = cluster.store.objects(JOBS, "default")
    assert made["metadata"]["name"] == f"nightly-{int(an_hour_later.timestamp()) // 60}"
    assert made["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    status = status_of(cluster, CRONJOBS, "nightly")
    assert status["lastScheduleTime"] == an_hour_later.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [ref["name"] for ref in status["active"]] == [made["metadata"]["name"]]


def test_cron_schedules() -> None:
    weekdays = CronSchedule.parse("*/15 9-17 * * mon-fri")
    saturday_noon = datetime(2025, 1, 4, 12, 0, tzinfo=UTC)

    assert weekdays.next_after(saturday_noon) == datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
    assert CronSchedule.parse("@monthly").next_after(saturday_noon) == datetime(
        2025, 2, 1, tzinfo=UTC
    )
    assert CronSchedule.parse("0 0 13 * 5").next_after(saturday_noon) == datetime(
        2025, 1, 10, tzinfo=UTC
    ), "day of month or day of week, when both are restricted"


async def test_a_claim_without_a_known_class_stays_pending(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    claim = {
        "metadata": {"name": "data"},
        "spec": {
            "storageClassName": "fast",
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    cluster.registry.create(PERSISTENT_VOLUME_CLAIMS, "default", claim)
    defaulted = {**claim, "metadata": {"name": "logs"}, "spec": {**claim["spec"]}}
    del defaulted["spec"]["storageClassName"]
    cluster.registry.create(PERSISTENT_VOLUME_CLAIMS, "default", defaulted)

    await eventually(
        lambda: status_of(cluster, PERSISTENT_VOLUME_CLAIMS, "logs").get("phase") == "Bound"
    )
    logs = cluster.store.get(PERSISTENT_VOLUME_CLAIMS, "default", "logs")
    assert logs["spec"]["storageClassName"] == "standard"
    assert status_of(cluster, PERSISTENT_VOLUME_CLAIMS, "data")["phase"] == "Pending"
    assert (
        cluster.store.get(PERSISTENT_VOLUMES, "", logs["spec"]["volumeName"])["spec"]["claimRef"][
            "name"
        ]
        == "logs"
    )

    cluster.registry.delete(PERSISTENT_VOLUME_CLAIMS, "default", "logs")
    await eventually(lambda: not cluster.store.objects(PERSISTENT_VOLUMES), what="volume reclaimed")


async def test_disruption_budget_counts_healthy_pods(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(STATEFULSETS, "default", statefulset(replicas=2))
    cluster.registry.create(
        POD_DISRUPTION_BUDGETS,
        "default",
        {
            "metadata": {"name": "db"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "db"}}},
        },
    )

    await eventually(
        lambda: status_of(cluster, POD_DISRUPTION_BUDGETS, "db").get("currentHealthy") == 2
    )
    status = status_of(cluster, POD_DISRUPTION_BUDGETS, "db")
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (
        2,
        1,
        1,
    )
    assert status["conditions"][0]["reason"] == "SufficientPods"


async def test_custom_resource_definition_serves_its_kind(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(
        CUSTOM_RESOURCE_DEFINITIONS,
        None,
        {
            "metadata": {"name": "widgets.example.com"},
            "spec": {
                "group": "example.com",
                "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": True, "storage": True}],
            },
        },
    )

    def established() -> bool:
        status = (
            cluster.store.peek(CUSTOM_RESOURCE_DEFINITIONS, "", "widgets.example.com") or {}
        ).get("status") or {}
        return any(c["type"] == "Established" for c in status.get("conditions") or [])

    await eventually(established)
    widgets = cluster.store.catalog.find("example.com", "v1", "widgets")
    assert widgets is not None
    cluster.registry.create(widgets, "default", {"metadata": {"name": "w1"}, "spec": {"size": 3}})
    assert cluster.store.get(widgets, "default", "w1")["kind"] == "Widget"
    assert cluster.store.catalog.api_resource_list("example.com/v1") is not None

    cluster.registry.delete(CUSTOM_RESOURCE_DEFINITIONS, "", "widgets.example.com")
    await eventually(lambda: cluster.store.catalog.find("example.com", "v1", "widgets") is None)
    assert not cluster.store.objects(widgets)


async def test_every_namespace_gets_a_default_service_account(make_cluster: ClusterFactory) -> None:
    cluster = await make_cluster()
    cluster.registry.create(NAMESPACES, None, {"metadata": {"name": "shop"}})

    await eventually(lambda: cluster.store.peek(SERVICE_ACCOUNTS, "shop", "default") is not None)
