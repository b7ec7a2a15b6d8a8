"""Chart commands and queries: register, update, delete, validate again, get, list."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.service_layer.charts import (
    delete_chart,
    get_chart,
    list_charts,
    register_chart,
    revalidate_chart,
    update_chart,
)
from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_contracts import subjects
from slipway_contracts.commands import (
    ChartSpec,
    DeleteChart,
    RegisterChart,
    UpdateChart,
    ValidateChart,
)
from slipway_contracts.entities import ChartSourceRef, Finding
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Unavailable,
)
from slipway_libs.unit_of_work import TransientConflict
from tests.fakes import command_id
from tests.unit.chart_validator.fakes import packed

CHART = subjects.HELM_CHART
VALIDATE_JOB = subjects.job(CHART, "validate")
SPEC: dict[str, Any] = {
    "name": "web",
    "version": "1.0.0",
    "app_version": "1",
    "namespace": "team-a",
    "source": {"path": "web"},
}
UPLOAD = {"archive": base64.b64encode(packed("web")).decode()}


def spec(**changes: Any) -> dict[str, Any]:
    return {**SPEC, **changes}


def put_chart(deps: Dependencies, status: str = "valid", **changes: Any) -> HelmChartAggregate:
    """A committed chart in `status` (set-up: no events), its archive stored if it has one."""
    body = spec(**changes)
    source = ChartSourceRef(path="web")
    if "archive" in body["source"]:
        source = ChartSourceRef(archive_id=f"archive-of-{body['name']}")
        deps.archives.files[source.archive_id] = (packed("web"), utcnow())
    chart = HelmChartAggregate.register(
        ChartSpec.model_validate(body),
        source,
        chart_id=f"chart-{body['namespace']}-{body['name']}",
        validation_id="v1",
        deadline=utcnow(),
    )
    if status == "valid":
        chart.verdict("v1", [])
    elif status == "invalid":
        chart.verdict("v1", [Finding(severity="error", rule="schema", message="bad")])
    return deps.charts.put(chart)


def stored_archives(deps: Dependencies) -> set[str]:
    return set(deps.archives.files)


# --- register ------------------------------------------------------------------------


async def test_a_registered_chart_is_validating_announced_and_its_validation_queued(deps):
    reply = await register_chart(deps, RegisterChart(**spec()))

    assert reply["ok"] is True
    chart = reply["data"]
    assert (chart["status"], chart["revision"], chart["source"]["path"]) == ("validating", 1, "web")
    stored = await deps.charts.get(chart["id"])
    assert stored.snapshot() == chart
    assert stored.state.deadline > utcnow()
    assert deps.uow.event_types() == [subjects.event(CHART, "created")]
    assert deps.uow.events[0].payload["entityversion"] == 1
    (job,) = deps.uow.jobs
    assert job.subject == VALIDATE_JOB
    assert job.payload == {"chart_id": chart["id"], "validation_id": chart["validation_id"]}
    assert job.msg_id == chart["validation_id"]


async def test_an_uploaded_archive_is_stored_for_the_chart(deps):
    chart = (await register_chart(deps, RegisterChart(**spec(source=UPLOAD))))["data"]

    data = packed("web")
    assert chart["source"]["archive_size"] == len(data)
    assert chart["source"]["archive_sha256"] == hashlib.sha256(data).hexdigest()
    assert stored_archives(deps) == {chart["source"]["archive_id"]}
    assert await deps.archives.read(chart["source"]["archive_id"]) == data


async def test_a_repeated_register_command_gets_the_first_reply_and_stores_once(deps):
    with command_id("register-1"):
        first = await register_chart(deps, RegisterChart(**spec(source=UPLOAD)))
        again = await register_chart(deps, RegisterChart(**spec(source=UPLOAD)))

    assert again == first
    assert len(deps.charts.rows) == 1
    assert len(stored_archives(deps)) == 1
    assert len(deps.uow.jobs) == 1


@pytest.mark.parametrize(
    ("source", "field", "message"),
    [
        ({"path": "../elsewhere"}, "source.path", "outside the allowed roots"),
        ({"path": "missing"}, "source.path", "is not a directory"),
        ({"archive": "not base64!"}, "source.archive", "is not valid base64"),
        ({"archive": base64.b64encode(b"x" * 65).decode()}, "source.archive", "over the 64"),
        ({"archive": base64.b64encode(b"tgz:evil").decode()}, "source.archive", "links are"),
    ],
    ids=["outside-roots", "no-directory", "not-base64", "too-big", "unsafe"],
)
async def test_a_bad_source_is_refused_naming_the_field_and_nothing_is_kept(
    deps, source, field, message
):
    with pytest.raises(InvalidInput) as refused:
        await register_chart(deps, RegisterChart(**spec(source=source)))

    assert [d["field"] for d in refused.value.details] == [field]
    assert message in refused.value.message
    assert (deps.charts.rows, stored_archives(deps), deps.uow.events) == ({}, set(), [])


async def test_a_taken_name_in_the_namespace_is_a_conflict_and_drops_the_upload(deps):
    put_chart(deps)

    with pytest.raises(Conflict) as taken:
        await register_chart(deps, RegisterChart(**spec(source=UPLOAD)))

    assert "already exists in namespace 'team-a'" in taken.value.message
    assert taken.value.details == {"namespace": "team-a", "name": "web"}
    assert stored_archives(deps) == set()
    assert deps.uow.events == []
    elsewhere = await register_chart(deps, RegisterChart(**spec(namespace="team-b")))
    assert elsewhere["ok"] is True


async def test_a_failed_commit_drops_the_upload_but_an_unknown_outcome_keeps_it(deps):
    deps.uow.fail_next_commit = RuntimeError("the transaction was aborted")
    with pytest.raises(RuntimeError):
        await register_chart(deps, RegisterChart(**spec(source=UPLOAD)))
    assert stored_archives(deps) == set()

    # The commit may have gone through: the orphan sweep decides later.
    deps.uow.fail_next_commit = Unavailable("MongoDB is unavailable: AutoReconnect")
    with pytest.raises(Unavailable):
        await register_chart(deps, RegisterChart(**spec(source=UPLOAD)))
    assert len(stored_archives(deps)) == 1
    assert deps.charts.rows == {}


async def test_a_lost_race_runs_again_and_keeps_only_the_upload_it_committed(deps):
    deps.uow.fail_next_commit = TransientConflict("write conflict")

    chart = (await register_chart(deps, RegisterChart(**spec(source=UPLOAD))))["data"]

    assert stored_archives(deps) == {chart["source"]["archive_id"]}
    assert len(deps.charts.rows) == 1


# --- update ----------------------------------------------------------------------------


async def test_an_update_validates_again_and_drops_the_archive_it_replaced(deps):
    chart = put_chart(deps, source=UPLOAD)

    reply = await update_chart(
        deps, UpdateChart(id=chart.id, expected_revision=2, **spec(description="new"))
    )

    updated = reply["data"]
    assert (updated["status"], updated["revision"]) == ("validating", 3)
    assert (updated["description"], updated["source"]["path"]) == ("new", "web")
    assert updated["findings"] == [] and updated["reason"] is None
    assert deps.uow.event_types() == [subjects.event(CHART, "validating")]
    assert [j.payload["validation_id"] for j in deps.uow.jobs] == [updated["validation_id"]]
    assert updated["validation_id"] != "v1"
    assert stored_archives(deps) == set()


async def test_an_update_while_validating_makes_the_running_validation_stale(deps):
    chart = put_chart(deps, status="validating")

    updated = (await update_chart(deps, UpdateChart(id=chart.id, **spec(version="1.1.0"))))["data"]

    assert updated["status"] == "validating"
    assert deps.uow.event_types() == [subjects.event(CHART, "updated")]
    assert not (await deps.charts.get(chart.id)).is_current_validation("v1")


async def test_an_update_with_a_stale_if_match_is_refused_and_keeps_the_charts_archive(deps):
    chart = put_chart(deps, source=UPLOAD)

    with pytest.raises(PreconditionFailed):
        await update_chart(
            deps, UpdateChart(id=chart.id, expected_revision=7, **spec(source=UPLOAD))
        )

    assert stored_archives(deps) == {chart.archive_id}
    assert (await deps.charts.get(chart.id)).revision == chart.revision
    assert deps.uow.events == []


async def test_an_update_of_an_unknown_chart_is_not_found_and_drops_the_upload(deps):
    with pytest.raises(NotFound, match="helm_chart 'nope' does not exist"):
        await update_chart(deps, UpdateChart(id="nope", **spec(source=UPLOAD)))
    assert stored_archives(deps) == set()


async def test_an_update_to_a_name_another_chart_has_is_a_conflict(deps):
    put_chart(deps, name="api")
    chart = put_chart(deps, name="web")

    with pytest.raises(Conflict, match="a chart named 'api' already exists"):
        await update_chart(deps, UpdateChart(id=chart.id, **spec(name="api")))
    assert (await deps.charts.get(chart.id)).state.name == "web"


async def test_a_repeated_update_command_gets_the_first_reply(deps):
    chart = put_chart(deps)
    command = UpdateChart(id=chart.id, **spec(description="once"))

    with command_id("update-1"):
        first = await update_chart(deps, command)
        again = await update_chart(deps, command)

    assert again == first
    assert len(deps.uow.jobs) == 1
    assert (await deps.charts.get(chart.id)).revision == first["data"]["revision"]


# --- delete ----------------------------------------------------------------------------


async def test_a_deleted_chart_is_gone_announced_and_its_archive_dropped(deps):
    chart = put_chart(deps, source=UPLOAD)

    reply = await delete_chart(deps, DeleteChart(id=chart.id, expected_revision=2))

    assert (reply["data"]["id"], reply["data"]["revision"]) == (chart.id, 3)
    assert deps.charts.rows == {}
    assert deps.uow.event_types() == [subjects.event(CHART, "deleted")]
    assert deps.uow.events[0].payload["data"]["previous_status"] == "valid"
    assert stored_archives(deps) == set()


async def test_a_delete_with_a_stale_if_match_changes_nothing(deps):
    chart = put_chart(deps, source=UPLOAD)

    with pytest.raises(PreconditionFailed, match="revision 1 is not current"):
        await delete_chart(deps, DeleteChart(id=chart.id, expected_revision=1))

    assert list(deps.charts.rows) == [chart.id]
    assert stored_archives(deps) == {chart.archive_id}


async def test_a_repeated_delete_command_gets_the_first_reply_not_a_404(deps):
    chart = put_chart(deps)

    with command_id("delete-1"):
        first = await delete_chart(deps, DeleteChart(id=chart.id))
        again = await delete_chart(deps, DeleteChart(id=chart.id))

    assert again == first
    with pytest.raises(NotFound):
        await delete_chart(deps, DeleteChart(id=chart.id))


# --- validate again ------------------------------------------------------------------


async def test_validating_again_clears_the_verdict_and_queues_a_new_validation(deps):
    chart = put_chart(deps, status="invalid")

    revalidated = (await revalidate_chart(deps, ValidateChart(id=chart.id)))["data"]

    assert (revalidated["status"], revalidated["findings"], revalidated["reason"]) == (
        "validating",
        [],
        None,
    )
    assert deps.uow.event_types() == [subjects.event(CHART, "validating")]
    (job,) = deps.uow.jobs
    assert job.payload == {"chart_id": chart.id, "validation_id": revalidated["validation_id"]}


async def test_validating_again_honours_if_match_and_needs_the_chart(deps):
    chart = put_chart(deps)
    with pytest.raises(PreconditionFailed):
        await revalidate_chart(deps, ValidateChart(id=chart.id, expected_revision=5))
    with pytest.raises(NotFound):
        await revalidate_chart(deps, ValidateChart(id="nope"))
    assert deps.uow.jobs == []


# --- queries -------------------------------------------------------------------------


async def test_get_answers_the_chart_or_not_found(deps):
    chart = put_chart(deps)

    assert await get_chart(deps, GetEntity(id=chart.id)) == {"ok": True, "data": chart.snapshot()}
    with pytest.raises(NotFound):
        await get_chart(deps, GetEntity(id="nope"))


async def test_list_pages_through_charts_of_one_status_oldest_first(deps):
    names = ["a", "b", "c"]
    for name in names:
        put_chart(deps, name=name)
    put_chart(deps, status="invalid", name="d")

    first = (await list_charts(deps, ListEntities(status="valid", limit=2)))["data"]
    rest = await list_charts(
        deps, ListEntities(status="valid", limit=2, cursor=first["next_cursor"])
    )

    assert [c["name"] for c in first["items"]] == ["a", "b"]
    assert [c["name"] for c in rest["data"]["items"]] == ["c"]
    assert rest["data"]["next_cursor"] is None
