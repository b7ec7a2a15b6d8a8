"""Image records through the use cases (service_layer/images.py), on fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from slipway_contracts import subjects
from slipway_contracts.commands import BuildImage, DeleteImage, RebuildImage
from slipway_contracts.jobs import BuildJob
from slipway_contracts.queries import GetEntity, GetPullSecret, ListEntities
from slipway_image_builder.service_layer import builds, images
from slipway_libs.errors import (
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from tests.fakes import command_id
from tests.unit.image_builder.fakes import SPEC, put_image

IMAGE = subjects.CONTAINER_IMAGE
BUILD_JOB = subjects.job(IMAGE, "build")


def event(name: str) -> str:
    return subjects.event(IMAGE, name)


def rebuild(image, **changes) -> RebuildImage:
    return RebuildImage.model_validate({**SPEC, "id": image.id, **changes})


# --- build_image ---------------------------------------------------------------


async def test_a_new_image_is_building_with_its_build_queued_and_its_creation_published(deps):
    reply = await images.build_image(deps, BuildImage.model_validate(SPEC))

    assert reply["ok"] is True
    image = reply["data"]
    assert (image["status"], image["revision"], image["name"]) == ("building", 1, "todo/backend")
    stored = await deps.images.get(image["id"])
    assert stored.snapshot() == image
    assert deps.uow.event_types() == [event("created")]
    assert [(j.subject, j.payload, j.msg_id) for j in deps.uow.jobs] == [
        (BUILD_JOB, {"image_id": image["id"], "build_id": image["build_id"]}, image["build_id"])
    ]
    deadline = datetime.fromisoformat(image["deadline"])
    expected = datetime.now(UTC) + timedelta(seconds=deps.settings.build_timeout_s)
    assert abs(deadline - expected) < timedelta(seconds=5)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        ({"context": "/etc"}, "build.context"),
        ({"context": "../.."}, "build.context"),
        ({"context": "missing"}, "build.context"),
        ({"context": "app", "dockerfile": "../../Dockerfile"}, "build.dockerfile"),
        ({"context": "app", "dockerfile": "Containerfile"}, "build.dockerfile"),
    ],
)
async def test_a_bad_build_context_is_refused_naming_the_field_and_stores_nothing(
    deps, build, field
):
    with pytest.raises(InvalidInput) as refused:
        await images.build_image(deps, BuildImage.model_validate({**SPEC, "build": build}))
    assert [d["field"] for d in refused.value.details] == [field]
    assert deps.images.rows == {}
    assert (deps.uow.events, deps.uow.jobs) == ([], [])


async def test_a_repeated_command_gets_the_first_reply_and_makes_one_image(deps):
    command = BuildImage.model_validate(SPEC)
    with command_id("key-1"):
        first = await images.build_image(deps, command)
        again = await images.build_image(deps, command)
        with pytest.raises(IdempotencyMismatch, match="Idempotency-Key"):
            await images.build_image(deps, command.model_copy(update={"tag": "2.0.0"}))
    assert again == first
    assert list(deps.images.rows) == [first["data"]["id"]]
    assert len(deps.uow.jobs) == 1


# --- rebuild_image -------------------------------------------------------------


async def test_a_new_tag_rebuilds_with_a_new_build_id_and_a_queued_job(deps):
    image = put_image(deps)

    reply = await images.rebuild_image(deps, rebuild(image, tag="1.1.0"))

    data = reply["data"]
    assert (data["status"], data["tag"], data["revision"]) == ("building", "1.1.0", 3)
    assert data["build_id"] != image.state.build_id
    assert (data["size"], data["image_id"], data["reason"]) == (None, None, None)
    assert deps.uow.event_types() == [event("building")]
    assert [j.payload for j in deps.uow.jobs] == [
        {"image_id": image.id, "build_id": data["build_id"]}
    ]


async def test_a_new_repository_only_updates_the_built_image(deps):
    image = put_image(deps)

    reply = await images.rebuild_image(deps, rebuild(image, repository="localhost:5000/todo"))

    assert (reply["data"]["status"], reply["data"]["repository"]) == (
        "built",
        "localhost:5000/todo",
    )
    assert deps.uow.event_types() == [event("updated")]
    assert deps.uow.jobs == []


async def test_a_building_image_cannot_be_changed(deps):
    image = put_image(deps, built=False)
    with pytest.raises(Conflict, match="current status: building") as refused:
        await images.rebuild_image(deps, rebuild(image, tag="2.0.0"))
    assert refused.value.details == {"current_status": "building"}
    assert (await deps.images.get(image.id)).state.tag == "1.0.0"
    assert (deps.uow.events, deps.uow.jobs) == ([], [])


async def test_a_stale_if_match_is_refused_naming_the_current_revision(deps):
    image = put_image(deps)
    with pytest.raises(PreconditionFailed) as refused:
        await images.rebuild_image(deps, rebuild(image, tag="2.0.0", expected_revision=1))
    assert refused.value.details == {"current_revision": 2}
    assert deps.uow.events == []
    reply = await images.rebuild_image(deps, rebuild(image, tag="2.0.0", expected_revision=2))
    assert reply["data"]["tag"] == "2.0.0"


async def test_rebuilding_checks_the_build_context_and_the_image(deps):
    image = put_image(deps)
    with pytest.raises(InvalidInput, match=r"build\.context"):
        await images.rebuild_image(deps, rebuild(image, build={"context": "/etc"}))
    with pytest.raises(NotFound, match="container_image 'nope' does not exist"):
        await images.rebuild_image(deps, RebuildImage.model_validate({**SPEC, "id": "nope"}))
    assert deps.uow.events == []


# --- delete_image --------------------------------------------------------------


async def test_deleting_removes_the_record_and_its_logs_but_keeps_the_engine_image(deps):
    image = put_image(deps)
    await deps.logs.append(image.id, image.state.build_id, 0, ["Step 1/1 : FROM scratch"])

    reply = await images.delete_image(deps, DeleteImage(id=image.id))

    assert reply["data"]["id"] == image.id
    assert deps.images.rows == {}
    assert deps.uow.event_types() == [event("deleted")]
    assert deps.uow.events[0].payload["data"]["previous_status"] == "built"
    assert deps.uow.events[0].payload["entityversion"] == 3
    assert deps.logs.lines == {}
    assert image.state.reference in deps.engine.images


async def test_deleting_with_remove_image_removes_the_engine_image_too(deps):
    image = put_image(deps)
    await images.delete_image(deps, DeleteImage(id=image.id, remove_image=True))
    assert deps.engine.removed == ["todo/backend:1.0.0"]
    assert image.state.reference not in deps.engine.images


async def test_an_unreachable_engine_does_not_stop_the_record_from_going(deps):
    image = put_image(deps)
    deps.engine.unreachable = True
    reply = await images.delete_image(deps, DeleteImage(id=image.id, remove_image=True))
    assert reply["ok"] is True
    assert deps.images.rows == {}


async def test_deleting_honours_if_match_and_a_missing_image_is_not_found(deps):
    image = put_image(deps)
    with pytest.raises(PreconditionFailed):
        await images.delete_image(deps, DeleteImage(id=image.id, expected_revision=1))
    assert image.id in deps.images.rows
    with pytest.raises(NotFound):
        await images.delete_image(deps, DeleteImage(id="nope"))
    assert deps.uow.events == []


async def test_a_repeated_delete_gets_the_first_reply(deps):
    image = put_image(deps)
    with command_id("delete-1"):
        first = await images.delete_image(deps, DeleteImage(id=image.id))
        again = await images.delete_image(deps, DeleteImage(id=image.id))
    assert again == first
    assert deps.uow.event_types() == [event("deleted")]


# --- queries -------------------------------------------------------------------


async def test_get_answers_the_image_or_not_found(deps):
    image = put_image(deps)
    assert (await images.get_image(deps, GetEntity(id=image.id)))["data"] == image.snapshot()
    with pytest.raises(NotFound):
        await images.get_image(deps, GetEntity(id="nope"))


async def test_list_pages_oldest_first_with_a_cursor_and_a_status_filter(deps):
    made = [put_image(deps, built=i % 2 == 0, name=f"todo/app{i}") for i in range(5)]

    first = (await images.list_images(deps, ListEntities(limit=3)))["data"]
    rest = await images.list_images(deps, ListEntities(limit=3, cursor=first["next_cursor"]))
    building = (await images.list_images(deps, ListEntities(status="building")))["data"]

    oldest_first = sorted(made, key=lambda m: (m.state.created_at, m.id))
    assert [i["id"] for i in first["items"] + rest["data"]["items"]] == [m.id for m in oldest_first]
    assert rest["data"]["next_cursor"] is None
    assert [i["name"] for i in building["items"]] == ["todo/app1", "todo/app3"]


async def test_registry_credentials_are_kept_apart_and_used_for_the_push_never_shown(deps):
    body = {
        **SPEC,
        "repository": "127.0.0.1:5001/todo/backend",
        "registry_auth": {"username": "ci", "password": "pw-not-shown"},
    }
    reply = await images.build_image(deps, BuildImage.model_validate(body))
    image_id = reply["data"]["id"]
    assert reply["data"]["registry_username"] == "ci"
    assert "pw-not-shown" not in repr(reply)
    assert all("pw-not-shown" not in repr(e.payload) for e in deps.uow.events)
    assert deps.registry_credentials.kept[image_id].password == "pw-not-shown"

    await builds.run_build(deps, BuildJob(image_id=image_id, build_id=reply["data"]["build_id"]))
    assert deps.engine.pushed == ["127.0.0.1:5001/todo/backend:1.0.0"]
    assert deps.engine.logins[0].username == "ci"
    assert "pw-not-shown" not in repr(deps.engine.logins[0])

    await images.delete_image(deps, DeleteImage(id=image_id))
    assert image_id not in deps.registry_credentials.kept


async def test_the_pull_secret_query_answers_the_registry_login_or_none(deps):
    body = {
        **SPEC,
        "repository": "127.0.0.1:5001/todo/backend",
        "registry_auth": {"username": "ci", "password": "pw-for-pulls"},
    }
    with_login = (await images.build_image(deps, BuildImage.model_validate(body)))["data"]["id"]
    without = (await images.build_image(deps, BuildImage.model_validate(SPEC)))["data"]["id"]

    answer = (await images.pull_secret(deps, GetPullSecret(id=with_login)))["data"]
    none = (await images.pull_secret(deps, GetPullSecret(id=without)))["data"]

    assert answer["credentials"] == "basic"
    assert (answer["registry"], answer["username"]) == ("127.0.0.1:5001", "ci")
    assert answer["password"] == "pw-for-pulls"
    assert none["credentials"] == "none" and none["password"] is None


def test_a_repository_names_its_registry_as_docker_reads_it():
    assert images.registry_host("127.0.0.1:5001/a/b") == "127.0.0.1:5001"
    assert images.registry_host("registry.example/a") == "registry.example"
    assert images.registry_host("localhost/a") == "localhost"
    assert images.registry_host("team/app") == "https://index.docker.io/v1/"


def test_registry_auth_without_a_repository_is_refused():
    with pytest.raises(ValueError, match="registry_auth is given but no repository"):
        BuildImage.model_validate({**SPEC, "registry_auth": {"username": "a", "password": "b"}})
