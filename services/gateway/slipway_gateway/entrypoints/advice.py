"""`/api/advice/…`: the advisors, each one query to the service that owns what it reads
(the image-builder for Dockerfiles and builds, the workload-manager for deployments,
resources and a cluster's health), with the language model's explanation added when one
is configured (`SLIPWAY_AI_CHAT_URL`). Read-only: a viewer may call every one
(`access.rules`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from slipway_contracts import subjects
from slipway_contracts.advice import (
    AdviseDockerfile,
    BuildAdvice,
    ClusterHealth,
    DeploymentDiagnosis,
    DockerfileAdvice,
    ResourceAdvice,
)
from slipway_gateway.adapters.language_model import LanguageModel
from slipway_gateway.entrypoints.http import AUTHENTICATED, Bus, DocumentedRoute

router = APIRouter(
    prefix="/api/advice",
    tags=["advice"],
    route_class=DocumentedRoute,
    dependencies=[AUTHENTICATED],
)


async def advise(
    request: Request, bus: Bus, subject: str, payload: dict[str, Any], kind: str
) -> dict[str, Any]:
    """Ask the owning service, then let the language model (if any) explain its answer."""
    answer: dict[str, Any] = await bus.request(subject, payload)
    model: LanguageModel = request.app.state.language_model
    return await model.explained(kind, answer)


@router.post("/dockerfile", response_model=DockerfileAdvice)
async def advise_dockerfile(body: AdviseDockerfile, request: Request, bus: Bus) -> Any:
    """Review the Dockerfile of a build context (a directory in the build roots, resolved
    as builds resolve it): hadolint's findings and Slipway's rules (multi-stage build,
    non-root `USER`, base images pinned by digest, `.dockerignore`, layers ordered for the
    cache, no secrets in `ARG`/`ENV`: named by variable and line, the value never repeated),
    with a proposed Dockerfile that has what can be fixed offline fixed, and a proposed
    `.dockerignore` when the context has none. A context with no Dockerfile gets one
    proposed for its kind of project (Python, Node, Go, static site): `mode` generate."""
    payload = body.model_dump(mode="json")
    return await advise(request, bus, subjects.ADVISE_DOCKERFILE, payload, "Dockerfile review")


@router.get("/container-images/{image_id}", response_model=BuildAdvice)
async def advise_build(image_id: str, request: Request, bus: Bus) -> Any:
    """Why the image's build failed: the failing step, the likely cause (a file missing
    from the context, a base image not in the engine, a command not found, a RUN that
    exited non-zero, …) and the fix; no diagnoses when the build did not fail."""
    return await advise(request, bus, subjects.ADVISE_BUILD, {"id": image_id}, "build failure")


@router.get("/deployments/{deployment_id}", response_model=DeploymentDiagnosis)
async def diagnose_deployment(deployment_id: str, request: Request, bus: Bus) -> Any:
    """What is wrong with a Deployment, from its pods' statuses, their events and its
    reason: image load or pull errors, crash loops, probe failures, pods pending for
    resources, a Service with no endpoints. Each with evidence, the fix and a command
    (`slipway …` or `kubectl …`); `healthy` with no diagnoses when nothing is wrong."""
    payload = {"id": deployment_id}
    kind = "deployment troubleshooting"
    return await advise(request, bus, subjects.DIAGNOSE_DEPLOYMENT, payload, kind)


@router.get("/deployments/{deployment_id}/resources", response_model=ResourceAdvice)
async def recommend_resources(deployment_id: str, request: Request, bus: Bus) -> Any:
    """Recommended requests, limits and replicas from the pods' observed usage
    (metrics.k8s.io) and their restarts, with the reasoning."""
    payload = {"id": deployment_id}
    return await advise(request, bus, subjects.RECOMMEND_RESOURCES, payload, "resource sizing")


@router.get("/minikube-clusters/{cluster_id}/health", response_model=ClusterHealth)
async def cluster_health(cluster_id: str, request: Request, bus: Bus) -> Any:
    """Every Deployment, Service and Release on the cluster, and the cluster itself: counts
    and the problems, worst first."""
    payload = {"id": cluster_id}
    return await advise(request, bus, subjects.CLUSTER_HEALTH, payload, "cluster health")
