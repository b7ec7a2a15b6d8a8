"""The build job, its give-up, the deadline sweep and the build log
(service_layer/builds.py), run as the job handler runs them, on fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from slipway_contracts import subjects
from slipway_contracts.jobs import BuildJob
from slipway_contracts.queries import GetBuildLogs
from slipway_image_builder.domain.image import MB
from slipway_image_builder.service_layer import builds
from slipway_libs.errors import NotFound, PermanentError, RetryableError
from slipway_libs.jobs import run_job
from tests.fakes import FakeDelivery
from tests.unit.image_builder.fakes import STEPS, put_image
from tests.waiting import eventually

IMAGE = subjects.CONTAINER_IMAGE


def event(name: str) -> str:
    return subjects.event(IMAGE, name)


def job_of(image) -> BuildJob:
    return BuildJob(image_id=image.id, build_id=image.state.build_id)


async def run(deps, job: BuildJob, attempt: int = 1) -> FakeDelivery:
    """Run one delivery of `job` as the job handler does."""
    delivery = FakeDelivery(attempt)
    await run_job(
        delivery,
        deps.settings,
        work=partial(builds.run_build, deps, job),
        give_up=partial(builds.give_up_build, deps, job),
    )
    return delivery


async def test_a_build_records_what_the_engine_reports_and_keeps_its_log(deps):
    image = put_image(deps, built=False)

    delivery = await run(deps, job_of(image))

    assert delivery.acked
    built = await deps.images.get(image.id)
    engine_id = deps.engine.images["todo/backend:1.0.0"]
    assert (built.status, built.state.size, built.state.user) == ("built", 5 * MB, "65532")
    assert (built.state.image_id, built.state.digest) == (engine_id, engine_id)
    assert (built.state.deadline, built.state.reason) == (None, None)
    assert deps.uow.event_types() == [event("built")]
    assert deps.uow.events[0].payload["data"]["previous_status"] == "building"
    reference, context, dockerfile, _ = deps.engine.built[0]
    assert (reference, context.name, dockerfile) == ("todo/backend:1.0.0", "app", "Dockerfile")
    log = await builds.read_build_log(deps, GetBuildLogs(id=image.id))
    assert log["data"] == {
        "id": image.id,
        "build_id": image.state.build_id,
        "status": "built",
        "reason": None,
        "from_line": 0,
        "lines": STEPS,
    }
    assert deps.progress.lines[image.id] == STEPS
    # a follower asks for the lines it has not seen
    rest = await builds.read_build_log(deps, GetBuildLogs(id=image.id, from_line=2))
    assert rest["data"]["lines"] == STEPS[2:]


async def test_an_image_with_a_repository_is_pushed_and_keeps_the_pushed_digest(deps):
    image = put_image(deps, built=False, repository="localhost:5000/todo")
    await run(deps, job_of(image))
    built = await deps.images.get(image.id)
    assert deps.engine.pushed == ["localhost:5000/todo:1.0.0"]
    assert (built.status, built.state.digest) == ("built", "sha256:pushed")
    assert deps.progress.lines[image.id][-1] == "push: Pushed"


async def test_an_image_over_its_size_limit_fails_naming_the_limit(deps):
    deps.engine.size = 2 * 1024 * MB
    image = put_image(deps, built=False)
    await run(deps, job_of(image))
    failed = await deps.images.get(image.id)
    assert failed.status == "failed"
    assert failed.state.reason == "image size 2048.0 MB exceeds the backend limit of 1024.0 MB"
    assert deps.uow.event_types() == [event("failed")]


async def test_a_failing_step_fails_the_image_with_the_reason_and_keeps_the_error_line(deps):
    deps.engine.fail_with = PermanentError("Step 2/2 : COPY app /app failed: no such file")
    image = put_image(deps, built=False)

    delivery = await run(deps, job_of(image))

    assert delivery.acked and delivery.nacked == []
    failed = await deps.images.get(image.id)
    assert failed.status == "failed"
    assert failed.state.reason == "Step 2/2 : COPY app /app failed: no such file"
    lines = (await builds.read_build_log(deps, GetBuildLogs(id=image.id)))["data"]["lines"]
    assert lines[-1] == "ERROR: Step 2/2 : COPY app /app failed: no such file"


async def test_an_unreachable_engine_retries_then_gives_up_on_the_last_attempt(deps):
    deps.engine.unreachable = True
    image = put_image(deps, built=False)
    last = deps.settings.job_max_deliver

    early = await run(deps, job_of(image), attempt=1)
    assert (early.acked, len(early.nacked)) == (False, 1)
    assert (await deps.images.get(image.id)).status == "building"

    final = await run(deps, job_of(image), attempt=last)
    assert final.acked
    failed = await deps.images.get(image.id)
    assert failed.status == "failed"
    assert failed.state.reason.startswith(f"gave up after {last} attempts: Docker Engine is")


async def test_a_redelivered_build_starts_its_log_over(deps):
    deps.engine.fail_with = RetryableError("engine restarting")
    image = put_image(deps, built=False)
    await run(deps, job_of(image), attempt=1)
    deps.engine.fail_with = None

    await run(deps, job_of(image), attempt=2)

    lines = (await builds.read_build_log(deps, GetBuildLogs(id=image.id)))["data"]["lines"]
    assert lines == STEPS
    assert (await deps.images.get(image.id)).status == "built"


async def test_a_removed_build_context_fails_the_build_for_good(deps, tmp_path):
    image = put_image(deps, built=False)
    (tmp_path / "app" / "Dockerfile").unlink()
    await run(deps, job_of(image))
    failed = await deps.images.get(image.id)
    assert failed.status == "failed"
    assert failed.state.reason.startswith("build context is no longer usable: build.dockerfile")
    assert deps.engine.built == []


async def test_a_stale_job_builds_nothing_and_changes_nothing(deps):
    image = put_image(deps, built=False)
    gone = put_image(deps, built=False, name="todo/gone")
    del deps.images.rows[gone.id]

    for job in (BuildJob(image_id=image.id, build_id="an-older-build"), job_of(gone)):
        assert (await run(deps, job)).acked
        await builds.give_up_build(deps, job, "too late")

    assert deps.engine.built == []
    assert (await deps.images.get(image.id)).status == "building"
    assert deps.uow.events == []


async def test_an_image_deleted_during_its_build_stays_deleted(deps):
    deps.engine.hold = asyncio.Event()
    image = put_image(deps, built=False)
    build = asyncio.create_task(run(deps, job_of(image)))
    await eventually(lambda: deps.engine.built, what="the build started")

    del deps.images.rows[image.id]
    deps.engine.hold.set()

    assert (await build).acked
    assert deps.images.rows == {}
    assert deps.uow.events == []


async def test_progress_is_published_while_the_build_runs(deps, monkeypatch):
    monkeypatch.setattr(builds, "PROGRESS_INTERVAL_S", 0.01)
    deps.engine.hold = asyncio.Event()
    image = put_image(deps, built=False)
    build = asyncio.create_task(run(deps, job_of(image)))

    running = await eventually(
        lambda: deps.progress.lines.get(image.id), what="progress while building"
    )
    assert running == STEPS[:-1]
    assert (await deps.images.get(image.id)).status == "building"

    deps.engine.hold.set()
    await build
    assert deps.progress.lines[image.id] == STEPS


async def test_a_build_log_that_cannot_be_stored_does_not_fail_the_build(deps):
    deps.logs.unavailable = True
    image = put_image(deps, built=False)
    await run(deps, job_of(image))
    assert (await deps.images.get(image.id)).status == "built"


async def test_the_build_log_of_an_unknown_image_is_not_found(deps):
    with pytest.raises(NotFound):
        await builds.read_build_log(deps, GetBuildLogs(id="nope"))


async def test_the_deadline_sweep_fails_only_builds_past_their_deadline(deps):
    late = put_image(deps, built=False, name="todo/late")
    on_time = put_image(deps, built=False, name="todo/on-time")
    built = put_image(deps, name="todo/built")
    past = datetime.now(UTC) - timedelta(seconds=1)
    for image in (late, built):
        deps.images.rows[image.id] = deps.images.rows[image.id].model_copy(
            update={"deadline": past}
        )

    assert await builds.fail_overdue_builds(deps) == 1

    failed = await deps.images.get(late.id)
    assert failed.status == "failed"
    assert failed.state.reason == f"build did not finish before its deadline ({past.isoformat()})"
    assert failed.state.deadline is None
    assert (await deps.images.get(on_time.id)).status == "building"
    assert (await deps.images.get(built.id)).status == "built"
    assert deps.uow.event_types() == [event("failed")]
    assert await builds.fail_overdue_builds(deps) == 0
