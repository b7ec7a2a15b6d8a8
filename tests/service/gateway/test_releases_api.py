"""`/api/releases` through the real gateway, with a stub workload-manager on NATS."""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from slipway_contracts import subjects
from slipway_contracts.entities import Release
from tests.service.gateway.conftest import StubService, assert_problem

RELEASES = "/api/releases"
TODO = {
    "name": "todo",
    "cluster_id": "c1",
    "chart_id": "chart-1",
    "images": {"backend.image": "img-b", "frontend.image": "img-f"},
    "values": {"backend": {"replicas": 3}},
}
PREVIEW = {"manifest": "kind: Deployment\n", "diff": "-image: a\n+image: b\n", "changes": []}


def pending(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "status": "pending"}


@pytest_asyncio.fixture(loop_scope="session")
async def releases(serve) -> StubService:
    return await serve(
        StubService(
            "release",
            pending,
            transitions={
                "update": ({"deployed", "failed"}, "updating"),
                "rollback": ({"deployed", "failed"}, "updating"),
            },
            answers={
                subjects.query("release", "preview"): lambda payload: PREVIEW,
                subjects.query("release", "history"): lambda payload: [
                    {
                        "revision": 1,
                        "status": "deployed",
                        "updated_at": "2026-01-01T00:00:00Z",
                        "chart_id": "chart-1",
                    }
                ],
                subjects.query("release", "manifest"): lambda payload: {
                    "manifest": "---\nkind: Service\n"
                },
            },
        )
    )


def deployed(releases: StubService) -> dict[str, Any]:
    """A release the stub holds as installed (helm revision 1)."""
    return releases.add({**TODO, "namespace": "default", "status": "deployed", "helm_revision": 1})


async def test_an_install_is_accepted_with_202_location_and_the_contract_defaults(
    gateway, releases
):
    response = await gateway.post(RELEASES, json=TODO, headers={"Idempotency-Key": "r-1"})
    assert response.status_code == 202, response.text
    release = Release.model_validate(response.json())
    assert release.status == "pending"
    assert response.headers["location"] == f"{RELEASES}/{release.id}"
    [sent] = releases.commands("create")
    assert sent.command_id == "idem:r-1"
    assert sent.payload["namespace"] == "default"
    assert sent.payload["timeout_seconds"] == 300


async def test_a_dry_run_answers_the_preview_and_sends_no_command(gateway, releases):
    before = len(releases.commands("create"))
    response = await gateway.post(RELEASES, params={"dry_run": "true"}, json=TODO)
    assert response.status_code == 200
    assert response.json() == PREVIEW
    assert len(releases.commands("create")) == before
    [asked] = [r for r in releases.received if r.name == "preview"][-1:]
    assert asked.payload["spec"]["images"] == TODO["images"]
    assert "id" not in asked.payload


async def test_an_upgrade_dry_run_names_the_release_and_changes_nothing(gateway, releases):
    release = deployed(releases)
    response = await gateway.put(
        f"{RELEASES}/{release['id']}", params={"dry_run": "true"}, json=TODO
    )
    assert response.status_code == 200
    asked = [r for r in releases.received if r.name == "preview"][-1]
    assert asked.payload["id"] == release["id"]
    assert releases.get(release["id"])["status"] == "deployed"


async def test_an_upgrade_honours_if_match_and_answers_updating(gateway, releases):
    release = deployed(releases)
    stale = await gateway.put(f"{RELEASES}/{release['id']}", json=TODO, headers={"If-Match": '"9"'})
    assert_problem(stale, 412)
    response = await gateway.put(
        f"{RELEASES}/{release['id']}", json=TODO, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 202
    assert response.json()["status"] == "updating"
    assert response.headers["etag"] == '"2"'


async def test_a_rollback_carries_the_helm_revision(gateway, releases):
    release = deployed(releases)
    response = await gateway.post(f"{RELEASES}/{release['id']}/rollback", json={"revision": 1})
    assert response.status_code == 202
    assert releases.commands("rollback")[-1].payload["revision"] == 1
    assert_problem(
        await gateway.post(f"{RELEASES}/{release['id']}/rollback", json={"revision": 0}),
        422,
        {"revision"},
    )


async def test_an_uninstall_is_accepted_with_the_release(gateway, releases):
    release = deployed(releases)
    response = await gateway.delete(f"{RELEASES}/{release['id']}")
    assert response.status_code == 202
    assert response.json()["id"] == release["id"]


async def test_history_and_manifest_are_read_from_the_owner(gateway, releases):
    release = deployed(releases)
    history = await gateway.get(f"{RELEASES}/{release['id']}/history")
    assert history.status_code == 200
    assert [r["revision"] for r in history.json()] == [1]
    manifest = await gateway.get(f"{RELEASES}/{release['id']}/manifest")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/yaml")
    assert "kind: Service" in manifest.text


async def test_a_bad_values_path_and_a_long_name_are_named_in_the_422(gateway, releases):
    response = await gateway.post(
        RELEASES, json={**TODO, "name": "x" * 60, "images": {"backend image": "img-b"}}
    )
    problem = assert_problem(response, 422)
    fields = {e["field"] for e in problem["errors"]}
    assert "name" in fields
    assert any(f.startswith("images") for f in fields)
