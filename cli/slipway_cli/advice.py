"""`slipway advice`: the advisors (`/api/advice/…`): a Dockerfile's review, why a build
failed, what is wrong with a deployment, the resources it should ask for, a cluster's
health. They only read; a viewer's token will do. `-o json` prints the whole answer; the
table form prints what a person acts on, one finding or diagnosis a line with its fix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

import typer

from slipway_cli.client import api
from slipway_cli.clusters import CLUSTERS
from slipway_cli.deployments import DEPLOYMENTS
from slipway_cli.entities import Kind
from slipway_cli.images import IMAGES
from slipway_cli.output import Format, OutputOption, show

PATH = "/api/advice"
INDENT = "    "

app = typer.Typer(help="Advice: Dockerfiles, failed builds, deployments, resources, health.")


def answer(data: dict[str, Any], fmt: Format, lines: Iterable[str]) -> None:
    """The whole answer (json, yaml), or its lines for a person, the model's explanation last."""
    if fmt is not Format.table:
        show(data, fmt)
        return
    for line in lines:
        typer.echo(line)
    if data.get("explanation"):
        typer.echo(f"\nExplanation (language model):\n{data['explanation']}")
    elif data.get("explanation_note"):
        typer.echo(f"\n({data['explanation_note']})")


def about(ctx: typer.Context, kind: Kind, ref: str, route: str) -> dict[str, Any]:
    """The advice on one entity named by id or name: `route` with its `{id}` filled in."""
    found = kind.find(ctx, ref)
    return dict(api(ctx).get(f"{PATH}/{route.format(id=found['id'])}"))


def diagnosis_lines(diagnoses: list[dict[str, Any]]) -> Iterable[str]:
    for found in diagnoses:
        yield f"{found['severity'].upper():8} {found['cause']}: {found['summary']}"
        for evidence in found.get("evidence") or []:
            yield f"{INDENT}seen: {evidence}"
        yield f"{INDENT}fix:  {found['fix']}"
        if found.get("suggested_command"):
            yield f"{INDENT}run:  {found['suggested_command']}"


def dockerfile_lines(advice: dict[str, Any]) -> Iterable[str]:
    findings = advice["findings"]
    what = "no Dockerfile: one proposed" if advice["mode"] == "generate" else "review"
    yield (
        f"{advice['context']}/{advice['dockerfile']} ({advice['project_kind']} project), "
        f"{what}: {len(findings)} finding(s)"
    )
    for finding in findings:
        line = f"line {finding['line']}" if finding.get("line") else "file"
        fixed = " (fixed in the proposal)" if finding.get("fixed_in_proposal") else ""
        yield f"{finding['severity'].upper():8} {line:9} {finding['rule']}: {finding['message']}"
        if finding.get("fix"):
            yield f"{INDENT}fix: {finding['fix']}{fixed}"
    for note in advice.get("notes") or []:
        yield f"note: {note}"
    yield "\nProposed Dockerfile:"
    yield advice["proposed_dockerfile"].rstrip("\n")
    if advice.get("proposed_dockerignore"):
        yield "\nProposed .dockerignore:"
        yield advice["proposed_dockerignore"].rstrip("\n")


@app.command()
def dockerfile(
    ctx: typer.Context,
    context: Annotated[
        str, typer.Argument(help="the build context (a directory in the build roots)")
    ],
    dockerfile: Annotated[str, typer.Option(help="its path in the context")] = "Dockerfile",
    output: OutputOption = Format.table,
) -> None:
    """Review a build context's Dockerfile (or propose one when it has none)."""
    advice = api(ctx).post(f"{PATH}/dockerfile", {"context": context, "dockerfile": dockerfile})
    answer(advice, output, dockerfile_lines(advice))


@app.command()
def build(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="image id, or name:tag")],
    output: OutputOption = Format.table,
) -> None:
    """Why an image's build failed: the failing step, the cause and the fix."""
    advice = about(ctx, IMAGES, image, "container-images/{id}")
    head = f"image {advice['name']}:{advice['tag']} is {advice['status']}"
    step = f"; failing step: {advice['failing_step']}" if advice.get("failing_step") else ""
    quiet = [] if advice["diagnoses"] else ["nothing to diagnose: the build did not fail"]
    answer(advice, output, [head + step, *diagnosis_lines(advice["diagnoses"]), *quiet])


@app.command()
def deployment(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="deployment id or name")],
    output: OutputOption = Format.table,
) -> None:
    """What is wrong with a deployment, with evidence, the fix and a command."""
    advice = about(ctx, DEPLOYMENTS, deployment, "deployments/{id}")
    state = "healthy" if advice["healthy"] else f"{len(advice['diagnoses'])} problem(s)"
    head = f"deployment {advice['namespace']}/{advice['name']} is {advice['status']}: {state}"
    notes = [f"note: {note}" for note in advice.get("notes") or []]
    answer(advice, output, [head, *diagnosis_lines(advice["diagnoses"]), *notes])


def sizes(resources: dict[str, Any]) -> str:
    """`requests cpu=50m memory=32Mi, limits cpu=500m memory=128Mi`."""
    parts = []
    for kind in ("requests", "limits"):
        amounts = resources.get(kind) or {}
        given = " ".join(f"{key}={value}" for key, value in amounts.items() if value is not None)
        parts.append(f"{kind} {given or 'none'}")
    return ", ".join(parts)


@app.command()
def resources(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="deployment id or name")],
    output: OutputOption = Format.table,
) -> None:
    """The requests, limits and replicas a deployment should have, and why."""
    advice = about(ctx, DEPLOYMENTS, deployment, "deployments/{id}/resources")
    verdict = "change recommended" if advice["changed"] else "fits as it is"
    lines = [
        f"deployment {advice['name']}: {verdict}",
        f"current:     {sizes(advice['current'])}; replicas {advice['replicas']}",
        f"recommended: {sizes(advice['recommended'])}; replicas {advice['recommended_replicas']}",
        *(f"{INDENT}{reason}" for reason in advice["reasoning"]),
    ]
    answer(advice, output, lines)


@app.command()
def health(
    ctx: typer.Context,
    cluster: Annotated[str, typer.Argument(help="cluster id or name")],
    output: OutputOption = Format.table,
) -> None:
    """A cluster's health: what runs on it, and its problems, worst first."""
    advice = about(ctx, CLUSTERS, cluster, "minikube-clusters/{id}/health")
    counts = ", ".join(
        f"{kind} {advice[kind]['healthy']}/{advice[kind]['total']} healthy"
        for kind in ("deployments", "services", "releases")
    )
    state = "healthy" if advice["healthy"] else f"{len(advice['problems'])} problem(s)"
    lines = [f"cluster {advice['name']} is {advice['status']}: {state}; {counts}"]
    lines += [
        f"{p['severity'].upper():8} {p['kind']} {p['name']} ({p['status']}): {p['message']}"
        for p in advice["problems"]
    ]
    answer(advice, output, lines)
