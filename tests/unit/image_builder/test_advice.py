"""The image-builder's advisors against fakes: Dockerfile review and proposal, generate
mode, and why a build failed."""

from __future__ import annotations

import pytest

from slipway_contracts.advice import AdviseBuild, AdviseDockerfile
from slipway_image_builder.domain import dockerfile_advice
from slipway_image_builder.service_layer import advice
from slipway_libs.errors import InvalidInput
from tests.unit.image_builder.fakes import put_image

SECRET = "s3cr3t-Value-never-echoed"
POOR = f"""\
FROM acme/base:latest
ENV APP_MODE=prod API_TOKEN={SECRET}
COPY . /app
RUN pip install -r /app/requirements.txt
CMD ["/app/run"]
"""


def write(deps, name: str, files: dict[str, str]) -> None:
    directory = deps.settings.build_roots[0] / name
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        (directory / path).write_text(text)


async def test_a_poor_dockerfile_names_each_problem_and_never_its_secret(deps):
    write(deps, "poor", {"Dockerfile": POOR, "requirements.txt": ""})
    deps.engine.repo_digests["acme/base:latest"] = "sha256:" + "a" * 64
    reply = await advice.advise_dockerfile(deps, AdviseDockerfile(context="poor"))
    answer = reply["data"]
    rules = {f["rule"] for f in answer["findings"]}
    assert {
        "slipway.non-root-user",
        "slipway.secret-in-env",
        "slipway.pinned-base",
        "slipway.dockerignore",
        "slipway.multi-stage",
        "slipway.layer-order",
    } <= rules
    assert answer["mode"] == "review" and answer["project_kind"] == "python"
    assert SECRET not in str(answer)
    proposed = answer["proposed_dockerfile"]
    assert proposed.startswith(f"FROM acme/base@sha256:{'a' * 64}\n")
    assert "ENV APP_MODE=prod\n" in proposed and "API_TOKEN" in proposed
    assert proposed.rstrip().endswith("USER 65532:65532")
    assert ".git" in answer["proposed_dockerignore"]


async def test_an_unknown_digest_keeps_the_reference_and_the_finding(deps):
    write(deps, "poor", {"Dockerfile": POOR, ".dockerignore": ".git\n"})
    answer = (await advice.advise_dockerfile(deps, AdviseDockerfile(context="poor")))["data"]
    [pin] = [f for f in answer["findings"] if f["rule"] == "slipway.pinned-base"]
    assert pin["fixed_in_proposal"] is False and "cannot be done offline" in pin["fix"]
    assert answer["proposed_dockerfile"].startswith("FROM acme/base:latest\n")
    assert answer["proposed_dockerignore"] is None


async def test_the_examples_clean_dockerfile_has_no_slipway_errors(deps):
    write(deps, "clean", {"Dockerfile": "FROM scratch\nCOPY app /app\nUSER 65532:65532\n"})
    write(deps, "clean", {".dockerignore": ".git\n", "app": "x"})
    answer = (await advice.advise_dockerfile(deps, AdviseDockerfile(context="clean")))["data"]
    assert [f for f in answer["findings"] if f["severity"] == "error"] == []
    # scratch is no image to pin: nothing to say of its base
    assert not [f for f in answer["findings"] if f["rule"] == "slipway.pinned-base"]


@pytest.mark.parametrize(
    ("files", "kind", "expected"),
    [
        ({"requirements.txt": "", "main.py": ""}, "python", "pip install"),
        ({"package.json": "{}"}, "node", "npm install"),
        ({"go.mod": "module x"}, "go", "go mod download"),
        ({"index.html": "<p>"}, "static", "nginx-unprivileged"),
    ],
)
async def test_generate_mode_detects_the_project_and_proposes_a_non_root_image(
    deps, files, kind, expected
):
    write(deps, "project", files)
    answer = (await advice.advise_dockerfile(deps, AdviseDockerfile(context="project")))["data"]
    assert (answer["mode"], answer["project_kind"]) == ("generate", kind)
    assert expected in answer["proposed_dockerfile"]
    instructions = dockerfile_advice.parse(answer["proposed_dockerfile"])
    assert not dockerfile_advice.non_root_user(instructions)
    assert kind == "static" or len([i for i in instructions if i.keyword == "FROM"]) == 2


async def test_a_context_outside_the_roots_is_refused_naming_the_field(deps):
    with pytest.raises(InvalidInput) as refused:
        await advice.advise_dockerfile(deps, AdviseDockerfile(context="../../etc"))
    assert "context" in str(refused.value.details)


async def test_hadolint_down_keeps_slipways_findings_and_says_so(deps):
    write(deps, "poor", {"Dockerfile": POOR})
    deps.linter.down = True
    answer = (await advice.advise_dockerfile(deps, AdviseDockerfile(context="poor")))["data"]
    assert any("hadolint" in note for note in answer["notes"])
    assert any(f["rule"] == "slipway.non-root-user" for f in answer["findings"])


async def test_a_missing_file_in_the_context_is_named_with_the_fix(deps):
    image = put_image(deps, built=False)
    image.build_failed(
        image.state.build_id,
        "Step 2/3 : COPY does-not-exist.txt /app/ failed: COPY failed: file not found in build "
        "context or excluded by .dockerignore: stat does-not-exist.txt: file does not exist",
    )
    deps.images.put(image)
    answer = (await advice.advise_build(deps, AdviseBuild(id=image.id)))["data"]
    assert answer["failing_step"] == "Step 2/3 : COPY does-not-exist.txt /app/"
    [diagnosis] = answer["diagnoses"]
    assert diagnosis["cause"] == "missing_file_in_context"
    assert "'does-not-exist.txt'" in diagnosis["summary"]
    assert diagnosis["suggested_command"].startswith("slipway images build app ")


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        (
            "Step 1/2 : FROM nosuch/base:1 failed: pull access denied for nosuch/base",
            "base_image_unavailable",
        ),
        (
            "Step 2/2 : RUN frobnicate failed: The command '/bin/sh -c frobnicate' returned a non-zero code: 127",
            "command_not_found",
        ),
        (
            "Step 2/2 : RUN false failed: The command '/bin/sh -c false' returned a non-zero code: 1",
            "run_failed",
        ),
    ],
)
async def test_build_failures_are_told_apart(deps, reason, cause):
    image = put_image(deps, built=False)
    image.build_failed(image.state.build_id, reason)
    deps.images.put(image)
    answer = (await advice.advise_build(deps, AdviseBuild(id=image.id)))["data"]
    assert answer["diagnoses"][0]["cause"] == cause


async def test_a_built_image_has_no_diagnosis(deps):
    image = put_image(deps, built=True)
    answer = (await advice.advise_build(deps, AdviseBuild(id=image.id)))["data"]
    assert answer["diagnoses"] == [] and answer["status"] == "built"


@pytest.mark.parametrize("dockerfile", ["a\x00b", "x" * 5000])
async def test_an_unusable_dockerfile_path_is_invalid_input_naming_the_field(deps, dockerfile):
    write(deps, "poor", {"Dockerfile": POOR})
    with pytest.raises(InvalidInput) as refused:
        await advice.advise_dockerfile(
            deps, AdviseDockerfile(context="poor", dockerfile=dockerfile)
        )
    assert "dockerfile" in str(refused.value.details)
