"""The image-builder's advisors: a Dockerfile's review (or a proposal for a context with
none) and why a build failed. Read-only: they change no entity and touch no database
but the build log they read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slipway_contracts.advice import (
    AdviseBuild,
    AdviseDockerfile,
    BuildAdvice,
    DockerfileAdvice,
    DockerfileFinding,
)
from slipway_image_builder.domain import build_advice, dockerfile_advice
from slipway_image_builder.domain.ports import LinterUnavailable
from slipway_image_builder.service_layer.dependencies import Dependencies
from slipway_libs.errors import InvalidInput, RetryableError
from slipway_libs.paths import resolve_inside, resolve_inside_roots
from slipway_libs.unit_of_work import ok

# A larger Dockerfile is not read (no real one comes close).
MAX_DOCKERFILE_BYTES = 256 * 1024


async def _known_digests(deps: Dependencies, text: str) -> dict[str, str]:
    """The repository digests the engine knows for the unpinned base images of `text`."""
    digests: dict[str, str] = {}
    for base in dockerfile_advice.base_images(dockerfile_advice.parse(text)):
        if base.pinned or base.reference in digests:
            continue
        try:
            digest = await deps.engine.repo_digest(base.reference)
        except RetryableError:
            continue  # the engine is away: the findings say the pin could not be made
        if digest:
            digests[base.reference] = digest
    return digests


async def advise_dockerfile(deps: Dependencies, query: AdviseDockerfile) -> dict[str, Any]:
    """Review the context's Dockerfile (hadolint and Slipway's rules) and propose a fixed
    one; for a context with no Dockerfile, propose one for its kind of project."""
    directory = resolve_inside_roots(query.context, deps.settings.build_roots, "context")
    try:
        path = resolve_inside(directory, query.dockerfile, "dockerfile")
        path.is_file()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long
        raise InvalidInput.field("dockerfile", "is not a usable path (too long?)") from exc
    files = sorted(entry.name for entry in directory.iterdir())
    kind = dockerfile_advice.project_kind(files)
    notes: list[str] = []
    if path.is_file():
        mode = "review"
        text = path.read_bytes()[:MAX_DOCKERFILE_BYTES].decode("utf-8", errors="replace")
        findings = await _lint(deps, path, notes)
    else:
        mode = "generate"
        text = dockerfile_advice.generate(kind, files)
        findings = []
        notes.append(f"no {query.dockerfile} in the context: proposed one for a {kind} project")
    digests = await _known_digests(deps, text)
    findings = dockerfile_advice.review(text, files, digests) + findings
    if mode == "generate":
        findings = [f for f in findings if not f.fixed_in_proposal]
    advice = DockerfileAdvice(
        mode=mode,
        context=query.context,
        dockerfile=query.dockerfile,
        project_kind=kind,
        findings=findings,
        proposed_dockerfile=dockerfile_advice.propose(text, digests),
        proposed_dockerignore=(
            None if ".dockerignore" in files else dockerfile_advice.DOCKERIGNORE
        ),
        notes=notes,
    )
    return ok(advice.model_dump(mode="json"))


async def _lint(deps: Dependencies, path: Path, notes: list[str]) -> list[DockerfileFinding]:
    try:
        return await deps.linter.lint(path)
    except LinterUnavailable as exc:
        notes.append(f"hadolint's findings are missing: {exc}")
        return []


async def advise_build(deps: Dependencies, query: AdviseBuild) -> dict[str, Any]:
    """Why the image's latest build failed: the failing step, the cause and the fix."""
    image = await deps.images.get(query.id)
    state = image.state
    log = await deps.logs.read(image.id, state.build_id) if state.build_id else []
    failed = build_advice.FailedBuild(
        image_id=image.id,
        name=state.name,
        tag=state.tag,
        status=str(state.status),
        reason=state.reason,
        context=state.build.context,
        dockerfile=state.build.dockerfile,
        log=log,
    )
    advice = BuildAdvice(
        id=image.id,
        name=state.name,
        tag=state.tag,
        status=str(state.status),
        failing_step=build_advice.failing_step(failed) if state.status == "failed" else None,
        diagnoses=build_advice.diagnose(failed),
    )
    return ok(advice.model_dump(mode="json"))
