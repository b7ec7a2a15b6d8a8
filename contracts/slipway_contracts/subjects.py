"""NATS subject names and stream names (the messaging contract)."""

from __future__ import annotations

EVENTS_STREAM = "SLIPWAY_EVENTS"
JOBS_STREAM = "SLIPWAY_JOBS"
EVENTS_WILDCARD = "slipway.events.>"
JOBS_WILDCARD = "slipway.jobs.>"

CONTAINER_IMAGE = "container_image"
HELM_CHART = "helm_chart"
MINIKUBE_CLUSTER = "minikube_cluster"
DEPLOYMENT = "deployment"
SERVICE = "service"
RELEASE = "release"
WEBHOOK = "webhook"  # the gateway's own: webhook subscriptions
APPROVAL = "approval"  # the gateway's own: changes agents asked for, awaiting a human
ALERT = "alert"


def command(entity: str, action: str) -> str:
    """Request-reply subject of a command, e.g. `slipway.container_image.cmd.create`."""
    return f"slipway.{entity}.cmd.{action}"


def query(entity: str, name: str) -> str:
    """Request-reply subject of a query, e.g. `slipway.container_image.query.get`."""
    return f"slipway.{entity}.query.{name}"


def pull_secret() -> str:
    """The query for the registry credentials a cluster pulls a pushed image with
    (`slipway.container_image.query.pull_secret`): the workload-manager's alone."""
    return query(CONTAINER_IMAGE, "pull_secret")


def event(entity: str, name: str) -> str:
    """Subject of an event on SLIPWAY_EVENTS, e.g. `slipway.events.container_image.built`."""
    return f"slipway.events.{entity}.{name}"


def job(entity: str, name: str) -> str:
    """Subject of a job on SLIPWAY_JOBS, e.g. `slipway.jobs.container_image.build`."""
    return f"slipway.jobs.{entity}.{name}"


def progress(entity: str, entity_id: str) -> str:
    """Core-NATS subject of an entity's live progress lines (not persisted)."""
    return f"slipway.progress.{entity}.{entity_id}"


def health(service: str) -> str:
    """Request-reply subject a service answers when it and its database are healthy."""
    return f"slipway.health.{service}"


AUDIT_STREAM = "SLIPWAY_AUDIT"
AUDIT_WILDCARD = "slipway.audit.>"


def audit(service: str) -> str:
    """Subject on SLIPWAY_AUDIT of the audit entries a service records for the commands it
    receives over NATS (the gateway stores them), e.g. `slipway.audit.image-builder`."""
    return f"slipway.audit.{service}"


# Advisors (`slipway_contracts.advice`): read-only queries, each owned by the service that
# holds what it reads; the gateway serves them at /api/advice/… and as MCP tools.
ADVISE_DOCKERFILE = query(CONTAINER_IMAGE, "advise_dockerfile")  # AdviseDockerfile
ADVISE_BUILD = query(CONTAINER_IMAGE, "advise_build")  # AdviseBuild
DIAGNOSE_DEPLOYMENT = query(DEPLOYMENT, "diagnose")  # DiagnoseDeployment
RECOMMEND_RESOURCES = query(DEPLOYMENT, "recommend_resources")  # RecommendResources
CLUSTER_HEALTH = query(DEPLOYMENT, "cluster_health")  # ClusterHealthQuery
