"""Advisors: rule-based, deterministic advice on Dockerfiles, failed builds, deployments,
resources and a cluster's health. Each is one query answered by the service that owns
what it reads (`subjects.advice_query`), offered over REST (`/api/advice/...`) and as
MCP tools. An answer is the rules' result; when a language model is configured the gateway
adds `explanation`, written by the model from that result, which never changes it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from slipway_contracts.common import Model
from slipway_contracts.entities import DeploymentUsage, Resources

FindingSeverity = Literal["error", "warning", "info", "style"]
ProjectKind = Literal["python", "node", "static", "go", "unknown"]


class Explained(Model):
    """What the gateway adds to every advice answer when a language model is configured
    (`SLIPWAY_AI_CHAT_URL`): the rule-based part above stays the authority."""

    explanation: str | None = Field(
        None, description="the language model's explanation of the rule-based result"
    )
    explanation_note: str | None = Field(
        None, description="why there is no explanation (model not configured, down, slow)"
    )


# --- Dockerfile (Gordon's role) -------------------------------------------------------


class AdviseDockerfile(Model):
    """`slipway.container_image.query.advise_dockerfile`, `POST /api/advice/dockerfile`: review
    the Dockerfile of a build context inside the build roots (resolved as builds resolve
    it), or propose one when the context has none."""

    context: str = Field(min_length=1, description="a directory in the build roots")
    dockerfile: str = Field("Dockerfile", min_length=1, description="its path in the context")


class DockerfileFinding(Model):
    """One problem of a Dockerfile. A secret's value is never repeated: the variable and
    line name it."""

    rule: str = Field(description="`slipway.<rule>` or `hadolint.<code>` (DL3007, SC2086, ...)")
    severity: FindingSeverity
    line: int | None = Field(None, description="1-based line in the Dockerfile")
    message: str
    fix: str | None = Field(None, description="what to change")
    fixed_in_proposal: bool = Field(False, description="the proposed Dockerfile already does it")


class DockerfileAdvice(Explained):
    """A review (`mode` review) or a proposal for a context with no Dockerfile (generate)."""

    mode: Literal["review", "generate"]
    context: str = Field(description="the build context, as asked for")
    dockerfile: str
    project_kind: ProjectKind = Field(description="what the context's files say it is")
    findings: list[DockerfileFinding]
    proposed_dockerfile: str = Field(description="a Dockerfile with what could be fixed fixed")
    proposed_dockerignore: str | None = Field(
        None, description="a .dockerignore, when the context has none"
    )
    notes: list[str] = Field(default_factory=list, description="what was not checked, and why")


# --- diagnoses: builds, deployments --------------------------------------------------


class Diagnosis(Model):
    """One cause of trouble: what it is, what shows it, and how to fix it."""

    cause: str = Field(description="a stable code, e.g. image_load_failed, crash_loop")
    summary: str = Field(description="the cause in one sentence")
    evidence: list[str] = Field(description="what was observed (statuses, events, log lines)")
    fix: str
    suggested_command: str | None = Field(None, description="a `slipway …` or `kubectl …` line")
    severity: Literal["error", "warning"] = "error"


class AdviseBuild(Model):
    """`slipway.container_image.query.advise_build`, `GET /api/advice/container-images/{id}`:
    why an image's build failed."""

    id: str


class BuildAdvice(Explained):
    id: str
    name: str
    tag: str
    status: str
    failing_step: str | None = Field(None, description="the build step that failed")
    diagnoses: list[Diagnosis] = Field(description="empty when the build did not fail")


class DiagnoseDeployment(Model):
    """`slipway.deployment.query.diagnose`, `GET /api/advice/deployments/{id}`."""

    id: str


class DeploymentDiagnosis(Explained):
    id: str
    name: str
    namespace: str
    status: str
    healthy: bool = Field(description="true when nothing is wrong (then no diagnoses)")
    diagnoses: list[Diagnosis] = Field(description="worst first")
    notes: list[str] = Field(default_factory=list, description="what could not be looked at")


# --- resources and health (kagent's role) --------------------------------------------


class RecommendResources(Model):
    """`slipway.deployment.query.recommend_resources`,
    `GET /api/advice/deployments/{id}/resources`."""

    id: str


class ResourceAdvice(Explained):
    id: str
    name: str
    current: Resources
    recommended: Resources
    replicas: int = Field(description="the replica count now")
    recommended_replicas: int
    usage: DeploymentUsage | None = Field(None, description="the usage the advice is based on")
    reasoning: list[str] = Field(description="why, one line each")
    changed: bool = Field(description="whether the recommendation differs from what is set")


class ClusterHealthQuery(Model):
    """`slipway.deployment.query.cluster_health`,
    `GET /api/advice/minikube-clusters/{id}/health`."""

    id: str


class HealthProblem(Model):
    kind: Literal["cluster", "deployment", "service", "release"]
    id: str
    name: str
    status: str
    severity: Literal["error", "warning"]
    message: str


class EntityCounts(Model):
    total: int = 0
    healthy: int = 0


class ClusterHealth(Explained):
    id: str
    name: str
    status: str = Field(description="the cluster's status as this service last heard it")
    healthy: bool
    deployments: EntityCounts
    services: EntityCounts
    releases: EntityCounts
    problems: list[HealthProblem] = Field(description="worst first: errors, then warnings")
