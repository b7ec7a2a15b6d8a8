"""Attaching a cluster through a kubeconfig given as content, or a file under the kubeconfig
roots: the content is kept sealed apart from the cluster and shows in no snapshot, event or
reply; it is opened only when the driver needs it (service_layer/clusters.py, drivers.py,
health.py, operations.py) against fakes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from slipway_cluster_manager.adapters.kubeconfig_file import KubeconfigFiles
from slipway_cluster_manager.service_layer.clusters import (
    cluster_kubeconfig,
    create_cluster,
    get_cluster,
)
from slipway_cluster_manager.service_layer.health import probe_clusters
from slipway_cluster_manager.service_layer.operations import delete_cluster
from slipway_contracts.commands import CreateCluster, DeleteCluster
from slipway_contracts.queries import GetEntity, GetKubeconfig
from slipway_libs.errors import Conflict, InvalidInput
from tests.fakes import command_id
from tests.unit.cluster_manager.fakes import API_SERVER, Parts
from tests.unit.cluster_manager.test_operations import job_of, run

TOKEN = "bearer-t0ken-7d1e"
CONTENT = f"current-context: prod\nserver: {API_SERVER}\ntoken: {TOKEN}\n"


def field_errors(error: InvalidInput) -> dict[str, str]:
    return {d["field"]: d["message"] for d in error.details}


def attach_inline(**fields: object) -> CreateCluster:
    return CreateCluster.model_validate(
        {"name": "prod", "driver": "kubeconfig", "kubeconfig_data": CONTENT, **fields}
    )


async def attached(parts: Parts) -> str:
    """The id of a cluster attached with CONTENT, running (its probe answered)."""
    reply = await create_cluster(parts.deps, attach_inline())
    parts.driver.running.add("prod")
    await probe_clusters(parts.deps)
    return str(reply["data"]["id"])


def everything_written(parts: Parts) -> str:
    """Every event, job and kept reply, and the stored clusters, as one text."""
    payloads = [m.payload for m in parts.uow.events + parts.uow.jobs]
    replies = [r.reply for r in parts.uow.replies.values()]
    rows = [row.model_dump(mode="json") for row in parts.clusters.rows.values()]
    return json.dumps([payloads, replies, rows])


async def test_content_attaches_its_context_and_the_cluster_shows_inline(parts: Parts):
    reply = await create_cluster(parts.deps, attach_inline())

    cluster = reply["data"]
    assert (cluster["kubeconfig"], cluster["context"]) == ("<inline>", "prod")
    assert "kubeconfig_data" not in cluster
    assert parts.events() == ["created"]


async def test_the_content_is_kept_sealed_and_never_in_a_snapshot_event_or_reply(parts: Parts):
    with command_id("attach-1"):
        reply = await create_cluster(parts.deps, attach_inline())

    cluster_id = reply["data"]["id"]
    [event] = parts.uow.events
    assert event.payload["data"]["kubeconfig"] == "<inline>"
    assert TOKEN not in everything_written(parts)
    assert TOKEN not in json.dumps(reply)
    assert TOKEN not in parts.credentials.rows[cluster_id]
    assert await parts.credentials.kubeconfig(cluster_id) == CONTENT


async def test_a_repeated_attach_keeps_one_cluster_and_its_content_once(parts: Parts):
    with command_id("attach-1"):
        first = await create_cluster(parts.deps, attach_inline())
        second = await create_cluster(parts.deps, attach_inline())

    assert second == first
    assert list(parts.credentials.rows) == [first["data"]["id"]]


async def test_the_command_never_shows_its_content_when_printed():
    assert TOKEN not in repr(attach_inline())


async def test_the_content_is_opened_for_the_probe_and_the_kubeconfig_only(parts: Parts):
    cluster_id = await attached(parts)

    reply = await cluster_kubeconfig(parts.deps, GetKubeconfig(id=cluster_id))

    assert reply["data"]["kubeconfig"] == CONTENT
    assert reply["data"]["api_server"] == API_SERVER
    calls = zip(parts.driver.calls, parts.driver.specs, strict=True)
    seen = {(method, spec.kubeconfig_data) for (method, _), spec in calls}
    assert seen == {("probe", CONTENT), ("kubeconfig", CONTENT)}
    stored = (await get_cluster(parts.deps, GetEntity(id=cluster_id)))["data"]
    assert (stored["status"], stored["kubeconfig"]) == ("running", "<inline>")
    assert TOKEN not in everything_written(parts)


async def test_the_opened_content_is_not_printed_with_the_drivers_spec(parts: Parts):
    await attached(parts)

    assert parts.driver.specs
    for spec in parts.driver.specs:
        assert spec.kubeconfig_data == CONTENT
        assert TOKEN not in repr(spec)


async def test_deleting_forgets_the_kept_content_without_opening_it(parts: Parts):
    cluster_id = await attached(parts)
    probes = len(parts.driver.specs)

    await delete_cluster(parts.deps, DeleteCluster(id=cluster_id))
    assert await run(parts, job_of(parts))

    assert parts.credentials.rows == {}
    assert [spec.kubeconfig_data for spec in parts.driver.specs[probes:]] == [None]
    assert parts.events()[-1] == "deleted"


async def test_content_that_cannot_be_opened_says_why_and_nothing_of_it(parts: Parts):
    cluster_id = await attached(parts)
    parts.credentials.rows[cluster_id] = parts.credentials.rows[cluster_id][:-4] + "AAAA"

    with pytest.raises(Conflict) as refused:
        await cluster_kubeconfig(parts.deps, GetKubeconfig(id=cluster_id))
    changed = await probe_clusters(parts.deps)

    assert refused.value.message.startswith(
        f"the kubeconfig kept for cluster {cluster_id} cannot be opened: "
    )
    assert refused.value.details == {"driver_code": "CREDENTIALS"}
    assert changed == 1
    stored = await parts.stored(cluster_id)
    assert stored.status == "error"
    assert stored.state.reason is not None
    assert "cannot be opened" in stored.state.reason
    assert TOKEN not in refused.value.message + stored.state.reason


# --- refusals -------------------------------------------------------------------------


async def test_a_file_and_content_together_are_refused(parts: Parts):
    with pytest.raises(InvalidInput) as refused:
        await create_cluster(parts.deps, attach_inline(kubeconfig="/home/me/.kube/config"))

    assert field_errors(refused.value) == {
        "kubeconfig_data": "give either kubeconfig (a file under the kubeconfig roots) or "
        "kubeconfig_data (its content), not both"
    }
    assert parts.credentials.rows == {}


async def test_content_is_only_for_attached_clusters(parts: Parts):
    command = CreateCluster(name="demo", driver="sim", kubeconfig_data=CONTENT)

    with pytest.raises(InvalidInput) as refused:
        await create_cluster(parts.deps, command)

    assert field_errors(refused.value) == {
        "kubeconfig_data": "is only for clusters with driver 'kubeconfig'"
    }


async def test_content_that_is_no_kubeconfig_or_lacks_the_context_is_refused(parts: Parts):
    with pytest.raises(InvalidInput) as broken:
        await create_cluster(parts.deps, attach_inline(kubeconfig_data="broken " + TOKEN))
    with pytest.raises(InvalidInput) as no_context:
        await create_cluster(parts.deps, attach_inline(context="staging"))

    assert field_errors(broken.value) == {"kubeconfig_data": "the kubeconfig is not valid YAML"}
    assert TOKEN not in broken.value.message
    assert field_errors(no_context.value) == {
        "context": "the kubeconfig has no context named 'staging'"
    }
    assert parts.clusters.rows == {} and parts.credentials.rows == {}


async def test_a_refused_commit_keeps_no_cluster(parts: Parts):
    parts.put("prod")  # the name is taken

    with pytest.raises(Conflict):
        await create_cluster(parts.deps, attach_inline())

    assert len(parts.clusters.rows) == 1
    assert parts.uow.events == []


# --- the kubeconfig roots, through the real kubeconfig files ------------------------------


@pytest.fixture
def rooted(parts: Parts, tmp_path: Path) -> Parts:
    """`parts` whose kubeconfigs are the real files under `<tmp>/kube` only."""
    (tmp_path / "kube").mkdir()
    parts.deps = dataclasses.replace(parts.deps, kubeconfigs=KubeconfigFiles([tmp_path / "kube"]))
    return parts


async def test_a_kubeconfig_outside_the_roots_is_refused_before_it_is_read(
    rooted: Parts, tmp_path: Path
):
    command = CreateCluster(name="x", driver="kubeconfig", kubeconfig="/etc/shadow", context="x")

    with pytest.raises(InvalidInput) as refused:
        await create_cluster(rooted.deps, command)

    assert field_errors(refused.value) == {
        "kubeconfig": f"'/etc/shadow' is outside the kubeconfig roots ({tmp_path / 'kube'}); "
        "attach a file under them, or send the kubeconfig's content as kubeconfig_data"
    }
    assert rooted.clusters.rows == {}


async def test_a_missing_file_under_the_roots_says_it_does_not_exist(rooted: Parts, tmp_path: Path):
    missing = tmp_path / "kube" / "absent"
    command = CreateCluster(name="x", driver="kubeconfig", kubeconfig=str(missing))

    with pytest.raises(InvalidInput) as refused:
        await create_cluster(rooted.deps, command)

    assert field_errors(refused.value) == {"kubeconfig": f"kubeconfig {missing} does not exist"}
