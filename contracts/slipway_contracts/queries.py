"""Queries: read-only requests answered by the owning service (request-reply over NATS)."""

from __future__ import annotations

from typing import Literal

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
    """The kept log of an image's latest build (`slipway.container_image.query.logs`), from
    line `from_line` (numbered from 0) on: a follower asks for the lines it has not seen."""

    id: str
    from_line: int = Field(0, ge=0)


class GetImageScan(Model):
    """An image's latest scan (`slipway.container_image.query.scan`)."""

    id: str


class GetImageSbom(Model):
    """An image's CycloneDX SBOM from its latest scan (`slipway.container_image.query.sbom`)."""

    id: str


class GetPullSecret(Model):
    """The registry credentials a cluster pulls an image with
    (`slipway.container_image.query.pull_secret`, the workload-manager's alone)."""

    id: str


class PullSecretAnswer(Model):
    """An image's registry login for an `imagePullSecrets` Secret: `credentials` is "none"
    when the image was pushed without `registry_auth` (then no Secret is needed)."""

    id: str
    credentials: Literal["basic", "none"]
    registry: str | None = Field(None, description="the registry host of `repository`")
    username: str | None = None
    password: str | None = Field(None, repr=False)


class Page(Model):
    """A list answer: `{"items": [...], "next_cursor": ...}`."""

    items: list[dict[str, object]]
    next_cursor: str | None = None


class GetKubeconfig(Model):
    """A running cluster's kubeconfig, for kubectl (`slipway.minikube_cluster.query.kubeconfig`)."""

    id: str


class ReleaseManifest(Model):
    """The rendered manifest of a release's current revision (`slipway.release.query.manifest`)."""

    id: str


class ReleaseHistory(Model):
    """A release's helm revisions, oldest first (`slipway.release.query.history`)."""

    id: str


class PreviewRelease(Model):
    """What installing or upgrading would do, changing nothing
    (`slipway.release.query.preview`, `POST /api/releases?dry_run=true`): the rendered
    manifest and its diff against what is live. `id` set: an upgrade of that release."""

    id: str | None = None
    spec: dict[str, object] = Field(description="the ReleaseSpec to preview")


class Preview(Model):
    """The answer to a preview: the manifest helm renders and a unified diff against the
    objects live on the cluster (empty when nothing would change)."""

    manifest: str
    diff: str
    changes: list[str] = Field(
        default_factory=list, description="`Kind/name: created|changed|removed`"
    )


class ChartSourceQuery(Model):
    """A chart's stored source, for the workload-manager to install it
    (`slipway.helm_chart.query.source`)."""

    id: str


class ChartSourceAnswer(Model):
    """A chart's files as a base64 `.tgz` (the uploaded archive, or its directory packed),
    so that whoever installs it needs no access to the chart-validator's disk or database."""

    id: str
    name: str
    version: str
    app_version: str | None = None
    archive: str = Field(description="base64 of a .tgz holding the chart directory")
