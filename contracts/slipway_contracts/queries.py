"""Queries: read-only requests answered by the owning service (request-reply over NATS)."""

from __future__ import annotations

from pydantic import Field

from slipway_contracts.common import Model


class GetEntity(Model):
    """Fetch one entity by id (`slipway.<entity>.query.get`)."""

    id: str


class ListEntities(Model):
    """One page of entities, oldest first (`slipway.<entity>.query.list`)."""

    status: str | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=500)


class GetBuildLogs(Model):
    """The kept log of an image's latest build (`slipway.container_image.query.logs`)."""

    id: str


class Page(Model):
    """A list answer: `{"items": [...], "next_cursor": ...}`."""

    items: list[dict[str, object]]
    next_cursor: str | None = None


class GetKubeconfig(Model):
    """A running cluster's kubeconfig, for kubectl (`slipway.minikube_cluster.query.kubeconfig`)."""

    id: str
