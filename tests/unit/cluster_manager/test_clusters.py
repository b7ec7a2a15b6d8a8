"""Registering and reading clusters (service_layer/clusters.py) against fakes."""

from __future__ import annotations

import pytest

from slipway_cluster_manager.domain.ports import TemporaryDriverError
from slipway_cluster_manager.service_layer.clusters import (
    cluster_kubeconfig,
    create_cluster,
    get_cluster,
    list_clusters,
)
from slipway_cluster_manager.service_layer.operations import OPERATE
from slipway_contracts.commands import CreateCluster
from slipway_contracts.queries import GetEntity, GetKubeconfig, ListEntities
from slipway_libs.errors import (
    Conflict,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    Unavailable,
)
from tests.fakes import command_id
from tests.unit.cluster_manager.fakes import API_SERVER, Parts, kubeconfig_text


def field_errors(error: InvalidInput) -> dict[str, str]:
    return {d["field"]: d["message"] for d in error.details}


# --- create ---------------------------------------------------------------------------


async def test_a_new_cluster_is_stopped_and_announced_and_nothing_is_started(parts: Parts):
    reply = await create_cluster(parts.deps, CreateCluster(name="demo", driver="sim"))

    cluster = reply["data"]
    assert (cluster["status"], cluster["operation"], cluster["revision"]) == ("stopped", None, 1)
    assert (await parts.stored(cluster["id"])).name == "demo"
    assert parts.events() == ["created"]
    assert parts.uow.jobs == []
    assert parts.driver.calls == []


async def test_created_with_start_the_start_is_in_flight_and_its_job_queued(parts: Parts):
    reply = await create_cluster(parts.deps, CreateCluster(name="demo", driver="sim", start=True))

    cluster = reply["data"]
    operation = cluster["operation"]
    assert (cluster["status"], operation["action"]) == ("stopped", "start")
    assert parts.events() == ["created"]
    [job] = parts.uow.jobs
    assert (job.subject, job.msg_id) == (OPERATE, operation["id"])
    assert job.payload == {
        "cluster_id": cluster["id"],
        "operation_id": operation["id"],
        "action": "start",
    }


async def test_a_sim_start_gets_the_sim_deadline(tmp_path):
    parts = Parts(tmp_path, sim_start_deadline_s=30)
    reply = await create_cluster(parts.deps, CreateCluster(name="demo", driver="sim", start=True))

    operation = (await parts.stored(reply["data"]["id"])).state.operation
    assert operation is not None
    assert (operation.deadline - operation.started_at).total_seconds() == pytest.approx(30, abs=1)


async def test_a_request_beyond_the_host_names_every_bad_field(parts: Parts):
    command = CreateCluster(name="big", driver="sim", cpus=64, kubernetes_version="1.30")

    with pytest.raises(InvalidInput) as refused:
        await create_cluster(parts.deps, command)

    errors = field_errors(refused.value)
    assert set(errors) == {"cpus", "kubernetes_version"}
    assert errors["cpus"] == "64 exceeds the host's 4 cores"
    assert refused.value.message.startswith("invalid input: cpus: 64 exceeds")
    assert parts.clusters.rows == {}
    assert parts.uow.events == []


async def test_a_minikube_cluster_needs_minikubes_minimums(parts: Parts):
    with pytest.raises(InvalidInput) as refused:
        await create_cluster(parts.deps, CreateCluster(name="mk", driver="minikube", cpus=1))
    assert "cpus" in field_errors(refused.value)


@pytest.mark.parametrize("field", ["kubeconfig", "context"])
async def test_kubeconfig_fields_are_only_for_attached_clusters(parts: Parts, field: str):
    command = CreateCluster.model_validate({"name": "demo", "driver": "sim", field: "/kc"})

    with pytest.raises(InvalidInput) as refused:
        await create_cluster(parts.deps, command)

    assert field_errors(refused.value) == {field: "is only for clusters with driver 'kubeconfig'"}


async def test_a_taken_name_is_a_conflict_naming_it(parts: Parts):
    parts.put("twin")

    with pytest.raises(Conflict) as refused:
        await create_cluster(parts.deps, CreateCluster(name="twin", driver="sim"))

    assert refused.value.message == "a cluster named 'twin' already exists"
    assert refused.value.details == {"name": "twin"}
    assert len(parts.clusters.rows) == 1


async def test_a_repeated_create_returns_the_first_reply_and_makes_one_cluster(parts: Parts):
    command = CreateCluster(name="once", driver="sim", start=True)
    with command_id("create-1"):
        first = await create_cluster(parts.deps, command)
        second = await create_cluster(parts.deps, command)

    assert second == first
    assert len(parts.clusters.rows) == 1
    assert parts.events() == ["created"]
    assert len(parts.uow.jobs) == 1


async def test_a_command_id_reused_with_another_body_is_refused(parts: Parts):
    with command_id("create-1"):
        await create_cluster(parts.deps, CreateCluster(name="one", driver="sim"))
        with pytest.raises(IdempotencyMismatch):
            await create_cluster(parts.deps, CreateCluster(name="two", driver="sim"))


# --- attaching ------------------------------------------------------------------------


async def test_an_attached_cluster_keeps_the_kubeconfig_and_context_it_resolves_to(
    parts: Parts,
):
    parts.kubeconfigs.files[parts.kubeconfigs.DEFAULT] = ["prod", "staging"]

    reply = await create_cluster(parts.deps, CreateCluster(name="prod", driver="kubeconfig"))

    cluster = reply["data"]
    assert (cluster["kubeconfig"], cluster["context"]) == (parts.kubeconfigs.DEFAULT, "prod")
    assert cluster["status"] == "stopped"
    assert parts.uow.jobs == []


async def test_an_attached_cluster_is_never_started_by_slipway(parts: Parts):
    parts.kubeconfigs.files["/kc"] = ["prod"]
    command = CreateCluster(name="prod", driver="kubeconfig", kubeconfig="/kc", start=True)

    with pytest.raises(InvalidInput) as refused:
        await create_cluster(parts.deps, command)

    assert "an attached cluster is not started by Slipway" in field_errors(refused.value)["start"]


async def test_an_attached_kubeconfig_path_must_be_absolute(parts: Parts):
    command = CreateCluster(name="prod", driver="kubeconfig", kubeconfig="kube/config")

    with pytest.raises(InvalidInput) as refused:
        await create_cluster(parts.deps, command)

    assert field_errors(refused.value) == {"kubeconfig": "'kube/config' is not an absolute path"}


async def test_a_missing_kubeconfig_or_context_is_named(parts: Parts):
    parts.kubeconfigs.files["/kc"] = ["prod"]

    with pytest.raises(InvalidInput) as no_file:
        await create_cluster(
            parts.deps, CreateCluster(name="a", driver="kubeconfig", kubeconfig="/nope")
        )
    with pytest.raises(InvalidInput) as no_context:
        await create_cluster(
            parts.deps,
            CreateCluster(name="b", driver="kubeconfig", kubeconfig="/kc", context="nope"),
        )

    assert field_errors(no_file.value) == {"kubeconfig": "kubeconfig /nope does not exist"}
    assert field_errors(no_context.value) == {
        "context": "the kubeconfig has no context named 'nope'"
    }


# --- queries --------------------------------------------------------------------------


async def test_get_answers_the_cluster_or_not_found(parts: Parts):
    cluster = parts.put("seen")

    reply = await get_cluster(parts.deps, GetEntity(id=cluster.id))

    assert reply == {"ok": True, "data": cluster.snapshot()}
    with pytest.raises(NotFound):
        await get_cluster(parts.deps, GetEntity(id="nope"))


async def test_lists_filter_by_status_and_page_with_a_cursor(parts: Parts):
    stopped = [parts.put(f"idle-{i}").id for i in range(3)]
    parts.put("busy", status="running")

    first = await list_clusters(parts.deps, ListEntities(status="stopped", limit=2))
    rest = await list_clusters(
        parts.deps, ListEntities(status="stopped", limit=2, cursor=first["data"]["next_cursor"])
    )

    pages = first["data"]["items"] + rest["data"]["items"]
    assert [c["id"] for c in pages] == stopped
    assert rest["data"]["next_cursor"] is None


async def test_a_running_cluster_hands_out_its_kubeconfig(parts: Parts):
    cluster = parts.put("kube", status="running")

    reply = await cluster_kubeconfig(parts.deps, GetKubeconfig(id=cluster.id))

    assert reply["data"] == {
        "id": cluster.id,
        "name": "kube",
        "api_server": API_SERVER,
        "kubeconfig": kubeconfig_text("kube"),
    }


async def test_a_stopped_cluster_has_no_kubeconfig_to_hand_out(parts: Parts):
    cluster = parts.put("cold")

    with pytest.raises(Conflict) as refused:
        await cluster_kubeconfig(parts.deps, GetKubeconfig(id=cluster.id))

    assert refused.value.message == (
        "cluster 'cold' is stopped; it must be running to hand out its kubeconfig"
    )
    assert refused.value.details == {"current_status": "stopped"}


async def test_a_kubeconfig_the_driver_cannot_give_is_unavailable(parts: Parts):
    cluster = parts.put("flaky", status="running")
    parts.driver.fail["kubeconfig"] = TemporaryDriverError("minikube update-context timed out")

    with pytest.raises(Unavailable):
        await cluster_kubeconfig(parts.deps, GetKubeconfig(id=cluster.id))
