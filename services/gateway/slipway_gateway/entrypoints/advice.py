"""`/api/advice/…`: the advisors, each one query to the service that owns what it reads
(the image-builder for Dockerfiles and builds, the workload-manager for deployments,
resources and a cluster's health), with the language model's explanation added when one
is configured (`SLIPWAY_AI_CHAT_URL`). Read-only: a viewer may call every one
(`access.rules`).

Each advisor is declared once (`ADVISORS`): its REST route below and its MCP tool
(`mcp.tools`) both ask through `Advisor.advise`, so they send the same query and answer the
same thing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request

from slipway_contracts import subjects
from slipway_contracts.advice import (
    AdviseBuild,
    AdviseDockerfile,
    BuildAdvice,
    ClusterHealth,
    ClusterHealthQuery,
    DeploymentDiagnosis,
    DiagnoseDeployment,
    DockerfileAdvice,
    RecommendResources,
    ResourceAdvice,
)
from slipway_contracts.common import Model
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.entrypoints.clusters import CLUSTERS
from slipway_gateway.entrypoints.deployments import DEPLOYMENTS
from slipway_gateway.entrypoints.http import AUTHENTICATED, Bus, DocumentedRoute, PrefixRouter
from slipway_gateway.entrypoints.images import IMAGES
from slipway_gateway.entrypoints.resources import Resource


class Explainer(Protocol):
    """The language model (`app.state.language_model`): adds `explanation` to an answer."""

    async def explained(self, kind: str, answer: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Advisor:
    """One advisor: the query it asks, the contract's model of what it takes, the entity
    it is about, and what the language model is told it explains (`kind`)."""

    name: str  # the MCP tool's name, and the REST route's
    subject: str
    arguments: type[Model]
    about: Resource
    kind: str
    description: str

    async def advise(
        self, bus: CommandBus, model: Explainer, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Ask the owning service, then let the language model (if any) explain its answer."""
        answer: dict[str, Any] = await bus.request(self.subject, payload)
        return await model.explained(self.kind, answer)


DOCKERFILE = Advisor(
    "advise_dockerfile",
    subjects.ADVISE_DOCKERFILE,
    AdviseDockerfile,
    IMAGES,
    "Dockerfile review",
    "Review the Dockerfile of a build context (a directory in the build roots, resolved "
    "as builds resolve it): hadolint's findings and Slipway's rules (multi-stage build, "
    "non-root `USER`, base images pinned by digest, `.dockerignore`, layers ordered for the "
    "cache, no secrets in `ARG`/`ENV`: named by variable and line, the value never "
    "repeated), with a proposed Dockerfile that has what can be fixed offline fixed, and a "
    "proposed `.dockerignore` when the context has none. A context with no Dockerfile gets "
    "one proposed for its kind of project (Python, Node, Go, static site): `mode` generate.",
)
BUILD = Advisor(
    "advise_build",
    subjects.ADVISE_BUILD,
    AdviseBuild,
    IMAGES,
    "build failure",
    "Why the image's build failed: the failing step, the likely cause (a file missing "
    "from the context, a base image not in the engine, a command not found, a RUN that "
    "exited non-zero, …) and the fix; no diagnoses when the build did not fail.",
)
DIAGNOSIS = Advisor(
    "diagnose_deployment",
    subjects.DIAGNOSE_DEPLOYMENT,
    DiagnoseDeployment,
    DEPLOYMENTS,
    "deployment troubleshooting",
    "What is wrong with a Deployment, from its pods' statuses, their events and its "
    "reason: image load or pull errors, crash loops, probe failures, pods pending for "
    "resources, a Service with no endpoints. Each with evidence, the fix and a command "
    "(`slipway …` or `kubectl …`); `healthy` with no diagnoses when nothing is wrong.",
)
RESOURCES = Advisor(
    "recommend_resources",
    subjects.RECOMMEND_RESOURCES,
    RecommendResources,
    DEPLOYMENTS,
    "resource sizing",
    "Recommended requests, limits and replicas from the pods' observed usage "
    "(metrics.k8s.io) and their restarts, with the reasoning.",
)
HEALTH = Advisor(
    "cluster_health",
    subjects.CLUSTER_HEALTH,
    ClusterHealthQuery,
    CLUSTERS,
    "cluster health",
    "Every Deployment, Service and Release on the cluster, and the cluster itself: counts "
    "and the problems, worst first.",
)
ADVISORS: tuple[Advisor, ...] = (DOCKERFILE, BUILD, DIAGNOSIS, RESOURCES, HEALTH)

router = PrefixRouter(
    prefix="/api/advice",
    tags=["advice"],
    route_class=DocumentedRoute,
    dependencies=[AUTHENTICATED],
)


def _model(request: Request) -> Explainer:
    model: Explainer = request.app.state.language_model
    return model


@router.post("/dockerfile", response_model=DockerfileAdvice, description=DOCKERFILE.description)
async def advise_dockerfile(body: AdviseDockerfile, request: Request, bus: Bus) -> Any:
    return await DOCKERFILE.advise(bus, _model(request), body.model_dump(mode="json"))


@router.get(
    "/container-images/{image_id}", response_model=BuildAdvice, description=BUILD.description
)
async def advise_build(image_id: str, request: Request, bus: Bus) -> Any:
    return await BUILD.advise(bus, _model(request), {"id": image_id})


@router.get(
    "/deployments/{deployment_id}",
    response_model=DeploymentDiagnosis,
    description=DIAGNOSIS.description,
)
async def diagnose_deployment(deployment_id: str, request: Request, bus: Bus) -> Any:
    return await DIAGNOSIS.advise(bus, _model(request), {"id": deployment_id})


@router.get(
    "/deployments/{deployment_id}/resources",
    response_model=ResourceAdvice,
    description=RESOURCES.description,
)
async def recommend_resources(deployment_id: str, request: Request, bus: Bus) -> Any:
    return await RESOURCES.advise(bus, _model(request), {"id": deployment_id})


@router.get(
    "/minikube-clusters/{cluster_id}/health",
    response_model=ClusterHealth,
    description=HEALTH.description,
)
async def cluster_health(cluster_id: str, request: Request, bus: Bus) -> Any:
    return await HEALTH.advise(bus, _model(request), {"id": cluster_id})
