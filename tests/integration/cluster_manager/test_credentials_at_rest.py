"""Cluster credentials in a real cluster-manager with a real MongoDB: kubeconfig files are
read only under the kubeconfig roots (a path elsewhere is refused before it is opened), and
a kubeconfig given as content is stored sealed, apart from the cluster, and shows nowhere
else: not in a stored document, an event, a reply or the log."""

from __future__ import annotations

import errno
import functools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo import AsyncMongoClient

from tests.integration.cluster_manager.conftest import Bus
from tests.integration.cluster_manager.test_cluster_commands import field_errors, unique
from tests.waiting import eventually

MARKER = "MARKER-c0ffee-never-shown"


def outside_roots(bus: Bus, raw: str) -> str:
    return (
        f"'{raw}' is outside the kubeconfig roots ({bus.manager.kubeconfig_root}); attach a "
        "file under them, or send the kubeconfig's content as kubeconfig_data"
    )


async def attach(bus: Bus, kubeconfig: str, context: str = "x") -> dict[str, Any]:
    body = {"name": unique("a"), "driver": "kubeconfig", "kubeconfig": kubeconfig}
    return await bus.command("create", {**body, "context": context})


def has_a_reader(fifo: Path) -> bool:
    """Whether some process holds `fifo` open for reading (a writer could then open it)."""
    try:
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno == errno.ENXIO:
            return False
        raise
    os.close(descriptor)
    return True


# --- the kubeconfig roots ---------------------------------------------------------------


async def test_etc_shadow_is_outside_the_roots_and_nothing_else_is_said(bus: Bus) -> None:
    reply = await attach(bus, "/etc/shadow")

    assert field_errors(reply) == {"kubeconfig": outside_roots(bus, "/etc/shadow")}
    assert reply["error"]["message"] == f"kubeconfig: {outside_roots(bus, '/etc/shadow')}"


async def test_a_file_outside_the_roots_is_never_opened_however_it_is_reached(
    bus: Bus, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text(f"{MARKER}: [\n")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    root = bus.manager.kubeconfig_root
    link = root / unique("link-out")
    link.symlink_to(secret)

    for raw in (str(secret), str(fifo), str(link), f"{root}/../../{tmp_path.name}/secret.yaml"):
        reply = await attach(bus, raw)
        assert field_errors(reply) == {"kubeconfig": outside_roots(bus, raw)}, raw
        assert MARKER not in str(reply)

    # Opening the FIFO for reading would still be waiting for a writer.
    assert not has_a_reader(fifo)


async def test_a_missing_file_under_the_roots_may_say_it_does_not_exist(bus: Bus) -> None:
    missing = bus.manager.kubeconfig_root / unique("absent")

    reply = await attach(bus, str(missing))

    assert field_errors(reply) == {"kubeconfig": f"kubeconfig {missing} does not exist"}


# --- a kubeconfig given as content ------------------------------------------------------


@pytest.fixture
async def sim_cluster(bus: Bus) -> AsyncIterator[tuple[str, str]]:
    """A running simulated cluster: its name and kubeconfig (it carries its bearer token)."""
    name = unique("host")
    created = await bus.create(name=name, driver="sim", start=True)
    await bus.wait_status(created["id"], "running")
    reply = await bus.query("kubeconfig", {"id": created["id"]})
    yield name, reply["data"]["kubeconfig"]
    await bus.delete(created["id"])


def token_of(kubeconfig: str) -> str:
    token = yaml.safe_load(kubeconfig)["users"][0]["user"]["token"]
    assert isinstance(token, str) and len(token) > 16
    return token


def texts(value: Any) -> list[str]:
    """Every string in a stored document, bytes decoded (outbox payloads are JSON bytes)."""
    if isinstance(value, dict):
        return [text for item in value.values() for text in texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in texts(item)]
    if isinstance(value, bytes):
        return [value.decode("utf-8", errors="replace")]
    return [str(value)]


async def stored(bus: Bus) -> dict[str, list[dict[str, Any]]]:
    """Every document of the manager's database, by collection."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(bus.manager.mongodb_uri)
    try:
        database = client[bus.manager.database]
        return {
            name: await database[name].find().to_list()
            for name in await database.list_collection_names()
        }
    finally:
        await client.close()


async def events_up_to(bus: Bus, cluster_id: str, name: str) -> list[Any] | None:
    """The cluster's events once one called `name` is among them."""
    events = await bus.events(cluster_id)
    return events if name in [event for event, _ in events] else None


async def test_content_is_stored_sealed_apart_and_shows_nowhere_else(
    bus: Bus, sim_cluster: tuple[str, str]
) -> None:
    context, kubeconfig = sim_cluster
    token = token_of(kubeconfig)

    attached = await bus.create(
        name=unique("inline"), driver="kubeconfig", kubeconfig_data=kubeconfig, context=context
    )
    running = await bus.wait_status(attached["id"], "running", timeout_s=15)
    handed_out = await bus.query("kubeconfig", {"id": attached["id"]})

    assert (attached["kubeconfig"], running["kubeconfig"]) == ("<inline>", "<inline>")
    assert running["api_server"].startswith("https://127.0.0.1:")
    assert token_of(handed_out["data"]["kubeconfig"]) == token  # the query answers as before
    documents = await stored(bus)
    [secret] = [d for d in documents["cluster_secrets"] if d["_id"] == attached["id"]]
    assert secret["kubeconfig"].startswith("v1.")
    everything = [text for rows in documents.values() for row in rows for text in texts(row)]
    assert not [text for text in everything if token in text]
    events = await eventually(
        functools.partial(events_up_to, bus, attached["id"], "running"),
        timeout_s=10,
        what="the attached cluster's running event",
    )
    assert events[0][0] == "created"
    assert token not in str(events)
    assert token not in bus.manager.log.read_text()

    await bus.delete(attached["id"])
    assert not [d for d in (await stored(bus))["cluster_secrets"] if d["_id"] == attached["id"]]


async def test_content_that_names_a_file_or_is_no_kubeconfig_is_refused_unquoted(
    bus: Bus, tmp_path: Path
) -> None:
    secret = tmp_path / "client.key"
    secret.write_text(MARKER)
    naming_a_file = yaml.safe_dump(
        {
            "current-context": "c",
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1"}}],
            "users": [{"name": "u", "user": {"client-key": str(secret)}}],
        }
    )

    names_a_file = await bus.command(
        "create", {"name": unique("a"), "driver": "kubeconfig", "kubeconfig_data": naming_a_file}
    )
    not_yaml = await bus.command(
        "create",
        {"name": unique("a"), "driver": "kubeconfig", "kubeconfig_data": f"t: {MARKER}: ["},
    )
    both = await bus.command(
        "create",
        {
            "name": unique("a"),
            "driver": "kubeconfig",
            "kubeconfig": "/etc/shadow",
            "kubeconfig_data": naming_a_file,
        },
    )

    assert field_errors(names_a_file)["kubeconfig_data"].startswith(
        "the kubeconfig names a file ('client-key')"
    )
    assert field_errors(not_yaml) == {
        "kubeconfig_data": "the kubeconfig is not valid YAML (line 1, column 29)"
    }
    assert set(field_errors(both)) == {"kubeconfig_data"}
    assert MARKER not in str([names_a_file, not_yaml, both])
