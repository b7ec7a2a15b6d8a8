"""The CLI's output, configuration precedence, errors and --wait against a fake transport
(httpx.MockTransport): no server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from slipway_cli.client import Api, ApiError, Config, resolve_config
from slipway_cli.main import app
from slipway_cli.output import Format, render
from slipway_cli.waiting import follow, settled_in

IMAGE = {
    "id": "3f2a7c1e-0000-4000-8000-000000000001",
    "name": "todo/backend",
    "tag": "1.0.0",
    "status": "built",
    "size": 1234,
    "build": {"context": "hello-server"},
}


def fake(handler: Any) -> Api:
    return Api(Config("http://slipway.test", "slw_test"), transport=httpx.MockTransport(handler))


def invoke(api: Api, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), obj=api)


# configuration precedence


def test_flags_win_over_the_environment_and_the_token_file(tmp_path: Path):
    (tmp_path / ".slipway").mkdir()
    (tmp_path / ".slipway" / "admin.token").write_text("slw_file\n")
    env = {"SLIPWAY_URL": "http://env:1", "SLIPWAY_TOKEN": "slw_env"}
    config = resolve_config("http://flag:2/", "slw_flag", env, tmp_path)
    assert config == Config("http://flag:2", "slw_flag")


def test_the_environment_wins_over_the_token_file(tmp_path: Path):
    (tmp_path / ".slipway").mkdir()
    (tmp_path / ".slipway" / "admin.token").write_text("slw_file\n")
    env = {"SLIPWAY_URL": "http://env:1", "SLIPWAY_TOKEN": "slw_env"}
    assert resolve_config(None, None, env, tmp_path) == Config("http://env:1", "slw_env")


def test_the_token_file_is_looked_up_here_then_under_the_state_dir(tmp_path: Path):
    here, state = tmp_path / "here", tmp_path / "state"
    here.mkdir()
    state.mkdir()
    (state / "admin.token").write_text("slw_state\n")
    env = {"SLIPWAY_STATE_DIR": str(state)}
    assert resolve_config(None, None, env, here) == Config("http://127.0.0.1:8080", "slw_state")
    (here / ".slipway").mkdir()
    (here / ".slipway" / "admin.token").write_text("slw_here\n")
    assert resolve_config(None, None, env, here).token == "slw_here"


def test_no_token_anywhere_sends_none(tmp_path: Path):
    assert resolve_config(None, None, {}, tmp_path).token is None


# output


def test_json_and_yaml_hold_the_whole_entity():
    assert json.loads(render([IMAGE], Format.json)) == [IMAGE]
    assert yaml.safe_load(render(IMAGE, Format.yaml)) == IMAGE


def test_a_table_shows_the_columns_asked_for_with_nested_fields():
    text = render(
        [IMAGE],
        Format.table,
        [("name", "name"), ("status", "status"), ("context", "build.context")],
    )
    header, row = text.splitlines()
    assert header.split() == ["NAME", "STATUS", "CONTEXT"]
    assert row.split() == ["todo/backend", "built", "hello-server"]


def test_one_entity_is_a_field_value_table():
    text = render(IMAGE, Format.table)
    assert any(line.split() == ["status", "built"] for line in text.splitlines())


def test_images_list_sends_the_token_and_pages_through_the_cursor():
    pages = {
        None: {"items": [IMAGE], "next_cursor": "c1"},
        "c1": {"items": [{**IMAGE, "id": "x2"}], "next_cursor": None},
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    result = invoke(fake(handler), "images", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert [image["id"] for image in json.loads(result.stdout)] == [IMAGE["id"], "x2"]
    assert all(r.headers["Authorization"] == "Bearer slw_test" for r in seen)


# errors


def problem_handler(request: httpx.Request) -> httpx.Response:
    body = {
        "status": 422,
        "detail": "invalid input: tag: not a semantic version",
        "errors": [{"field": "tag", "message": "not a semantic version"}],
    }
    return httpx.Response(422, json=body, headers={"Content-Type": "application/problem+json"})


def test_a_problem_prints_its_detail_and_fields_and_exits_1():
    result = invoke(
        fake(problem_handler), "images", "build", "hello-server", "--name", "x", "--tag", "v1.x"
    )
    assert result.exit_code == 1
    assert "Error (422): invalid input: tag: not a semantic version" in result.stderr
    assert "  tag: not a semantic version" in result.stderr


def test_a_usage_error_exits_2():
    result = invoke(fake(problem_handler), "images", "build")
    assert result.exit_code == 2


def test_an_unreachable_gateway_is_an_error_not_a_traceback():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    result = invoke(fake(refuse), "clusters", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot reach Slipway at http://slipway.test")


# --wait


def test_follow_polls_with_growing_intervals_until_settled():
    statuses = iter(["building", "building", "building", "failed"])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**IMAGE, "status": next(statuses), "reason": "step 2"})

    naps: list[float] = []
    entity = follow(fake(handler), "/x", settled_in({"built", "failed"}), 60, naps.append)
    assert entity["status"] == "failed"
    assert naps == sorted(naps) and naps[0] < naps[-1] and len(naps) == 3


def test_follow_gives_up_at_its_deadline_naming_the_last_status():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**IMAGE, "status": "building"})

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(Exception, match=r"gave up after 5 s: todo/backend:1.0.0: building"):
        follow(fake(handler), "/x", settled_in({"built"}), 5, sleep, lambda: now[0])


def test_a_failed_build_with_wait_exits_1_quoting_the_reason():
    reason = "Step 2/3 : COPY does-not-exist.txt /app/: COPY failed"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={**IMAGE, "status": "building"})
        return httpx.Response(200, json={**IMAGE, "status": "failed", "reason": reason})

    result = invoke(fake(handler), "images", "build", "broken-build", "--name", "x", "--wait")
    assert result.exit_code == 1
    assert reason in result.stderr


def test_api_error_keeps_the_status():
    assert ApiError(403, "this needs the operator role").status == 403


def test_shell_completion_and_version_need_no_server():
    completion = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="slipway")
    assert completion.exit_code == 0
    assert "_slipway_completion" in completion.stdout
    version = CliRunner().invoke(app, ["--version"])
    assert version.exit_code == 0
    assert version.stdout.startswith("slipway ")
