"""Why a build failed (build validation, Gordon's role), free of I/O: the failing step from
the image's reason or its kept build log, the likely cause and the fix.

The Docker Engine builds with no network (`network_mode="none"`, no pull), so causes that
need the network (a base image not in the engine, a package download) are named as such.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from slipway_contracts.advice import Diagnosis

STEP = re.compile(r"(Step \d+/\d+ : .+?)(?: failed:|$)")
EXIT_CODE = re.compile(r"returned a non-zero code: (\d+)")
MISSING_FILE = re.compile(r"(?:stat|lstat) ([^:]+): (?:file does not exist|no such file)")


@dataclass(frozen=True)
class FailedBuild:
    """What the image-builder knows of one image's latest build."""

    image_id: str
    name: str
    tag: str
    status: str
    reason: str | None
    context: str
    dockerfile: str
    log: Sequence[str]


def failing_step(build: FailedBuild) -> str | None:
    """`Step n/m : INSTRUCTION …` of the step that failed (from the reason, else the log)."""
    if build.reason and (found := STEP.search(build.reason)):
        return found.group(1).strip()
    steps = [line.strip() for line in build.log if line.startswith("Step ")]
    return steps[-1] if steps else None


def _rebuild(build: FailedBuild) -> str:
    return (
        f"slipway images build {build.context} --name {build.name} --tag {build.tag} "
        f"--dockerfile {build.dockerfile} --wait"
    )


def _evidence(build: FailedBuild, step: str | None) -> list[str]:
    found = [f"status: {build.status}"]
    if step:
        found.append(f"failing step: {step}")
    if build.reason:
        found.append(f"reason: {build.reason}")
    return found


def diagnose(build: FailedBuild) -> list[Diagnosis]:
    """The diagnoses of a failed build; none for one that did not fail."""
    if build.status != "failed":
        return []
    reason = build.reason or ""
    step = failing_step(build)
    instruction = (step.split(" : ", 1)[1].split(" ", 1)[0].upper() if step else "") or ""
    evidence = _evidence(build, step)
    lowered = reason.lower()

    def found(cause: str, summary: str, fix: str, command: str | None = None) -> list[Diagnosis]:
        return [
            Diagnosis(
                cause=cause,
                summary=summary,
                evidence=evidence,
                fix=fix,
                suggested_command=command or _rebuild(build),
            )
        ]

    if "no longer exists in the docker engine" in lowered or "not in the docker engine" in lowered:
        return found(
            "image_removed",
            "the image was built, then removed from the Docker Engine",
            "build it again: the same spec rebuilds it under the same name and tag",
        )
    if "size limit" in lowered or ("exceeds" in lowered and "limit" in lowered):
        return found(
            "image_too_large",
            "the built image is larger than the limit for its application type",
            "make the image smaller (a multi-stage build, a slim or scratch base, a "
            ".dockerignore), or raise SLIPWAY_IMAGE_SIZE_LIMIT_<FRONTEND|BACKEND>_MB",
            f'curl -X POST …/api/advice/dockerfile -d \'{{"context": "{build.context}"}}\'',
        )
    if "deadline" in lowered or "timed out" in lowered or "timeout" in lowered:
        return found(
            "build_timeout",
            "the build ran past its deadline",
            "make the build faster (cache the dependency layers, smaller context) or raise "
            "SLIPWAY_BUILD_TIMEOUT_S",
        )
    if "cannot locate specified dockerfile" in lowered or "build.dockerfile" in lowered:
        return found(
            "dockerfile_missing",
            f"there is no {build.dockerfile} in the build context {build.context}",
            "add the Dockerfile to the context, or name the right one (build.dockerfile); "
            "POST /api/advice/dockerfile proposes one for a context without",
        )
    if "dockerfile parse error" in lowered or "unknown instruction" in lowered:
        return found(
            "dockerfile_syntax",
            "the Dockerfile does not parse",
            "fix the instruction the error names (hadolint's findings in "
            "POST /api/advice/dockerfile point at it)",
        )
    if instruction == "FROM" or any(
        marker in lowered
        for marker in (
            "pull access denied",
            "manifest unknown",
            "no such image",
            "not found: manifest",
        )
    ):
        return found(
            "base_image_unavailable",
            "the base image is not in the Docker Engine, and builds run offline (no pull)",
            "load the base image into the engine first (docker pull or docker load on this "
            "host), pin it by digest, or build FROM scratch with prebuilt files",
        )
    if instruction in ("COPY", "ADD"):
        missing = MISSING_FILE.search(reason)
        what = f"'{missing.group(1).strip()}'" if missing else "a file it copies"
        return found(
            "missing_file_in_context",
            f"{what} is not in the build context {build.context} (or .dockerignore excludes it)",
            f"add {what} to the build context, fix its path in the Dockerfile (paths are "
            "relative to the context), or remove it from .dockerignore; then build again",
        )
    if instruction == "RUN":
        code = EXIT_CODE.search(reason)
        if (code and code.group(1) == "127") or "not found" in lowered:
            return found(
                "command_not_found",
                "a command the RUN step calls is not in the image",
                "install it in an earlier step (from packages already in the base image: the "
                "build has no network), use a base image that has it, or fix its name",
            )
        if "could not resolve" in lowered or "temporary failure in name resolution" in lowered:
            return found(
                "network_needed",
                "the RUN step needs the network, and builds run with none",
                "vendor the dependencies into the context (wheels, node_modules, go mod "
                "vendor) and install from there, or use a base image that has them",
            )
        exit_code = code.group(1) if code else "non-zero"
        return found(
            "run_failed",
            f"the RUN step exited with code {exit_code}",
            "read the build log just before the failure (GET /api/container-images/{id}/logs), "
            "run the command in the base image to reproduce it, fix it, build again",
            f"slipway images logs {build.name}:{build.tag}",
        )
    return found(
        "build_failed",
        "the build failed",
        "read the build log (slipway images logs) around the failing step, fix it, build again",
        f"slipway images logs {build.name}:{build.tag}",
    )
