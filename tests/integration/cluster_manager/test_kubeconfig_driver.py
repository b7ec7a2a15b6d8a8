"""The kubeconfig driver probing a real HTTP server on loopback through the kubernetes client."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from slipway_cluster_manager.adapters.kubeconfig_driver import KubeconfigDriver
from slipway_cluster_manager.adapters.kubeconfig_file import KubeconfigFiles
from slipway_cluster_manager.domain.ports import ClusterDriver, ClusterSpec, PermanentDriverError

pytestmark = pytest.mark.asyncio

READYZ_FAILED = "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n"
VERSION = json.dumps({"major": "1", "minor": "31", "gitVersion": "v1.31.2"})


@dataclass
class FakeApiServer:
    """A tiny real HTTP server on loopback answering like a Kubernetes API server."""

    url: str = ""
    routes: dict[str, tuple[int, str]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    hang: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def api_server() -> Iterator[FakeApiServer]:
    state = FakeApiServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Authorization")))
            if state.hang.is_set():
                state.release.wait(timeout=30)  # a hung API server, until teardown
            status, body = state.routes.get(self.path, (404, '{"kind":"Status","code":404}'))
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def write_kubeconfig(tmp_path: Path) -> Callable[..., Path]:
    """Writes a kubeconfig with one context per (name -> server URL), token auth."""

    def write(contexts: dict[str, str], current: str | None = None) -> Path:
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": current or next(iter(contexts)),
            "clusters": [{"name": n, "cluster": {"server": url}} for n, url in contexts.items()],
            "users": [{"name": f"{n}-user", "user": {"token": f"{n}-t0ken"}} for n in contexts],
            "contexts": [
                {"name": n, "context": {"cluster": n, "user": f"{n}-user"}} for n in contexts
            ],
        }
        path = tmp_path / "attached-kubeconfig"
        path.write_text(yaml.safe_dump(document))
        return path

    return write


def attached(kubeconfig: Path, context: str | None = None) -> ClusterSpec:
    extra = {"kubeconfig": str(kubeconfig)}
    if context:
        extra["context"] = context
    return ClusterSpec(
        name="team-cluster",
        driver="kubeconfig",
        cpus=2,
        memory_mb=4096,
        disk_size_mb=20000,
        kubernetes_version="v1.31.2",
        state_dir=kubeconfig.parent / "state",
        extra=extra,
    )


def driver_under(root: Path, *, probe_timeout: float = 5.0) -> KubeconfigDriver:
    """A driver that reads kubeconfig files under `root` only."""
    return KubeconfigDriver(KubeconfigFiles([root]), probe_timeout=probe_timeout)


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_driver_satisfies_the_port(tmp_path: Path) -> None:
    assert isinstance(driver_under(tmp_path), ClusterDriver)


async def test_a_ready_api_server_is_running_and_gets_the_contexts_credentials(
    api_server: FakeApiServer, write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    api_server.routes["/readyz"] = (200, "ok")
    kubeconfig = write_kubeconfig({"team": api_server.url})

    result = await driver_under(tmp_path).probe(attached(kubeconfig, "team"))

    assert (result.status, result.reason) == ("running", None)
    assert api_server.requests == [("/readyz", "Bearer team-t0ken")]


async def test_an_api_server_that_is_not_ready_is_an_error_with_its_answer(
    api_server: FakeApiServer, write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    api_server.routes["/readyz"] = (500, READYZ_FAILED)

    result = await driver_under(tmp_path).probe(
        attached(write_kubeconfig({"team": api_server.url}))
    )

    assert result.status == "error"
    assert result.reason == (
        f"the API server at {api_server.url} is not ready: /readyz answered HTTP 500: "
        "[+]ping ok [-]etcd failed: reason withheld readyz check failed"
    )


@pytest.mark.parametrize("readyz_status", [401, 403, 404])
async def test_when_readyz_is_not_allowed_version_decides(
    api_server: FakeApiServer,
    write_kubeconfig: Callable[..., Path],
    readyz_status: int,
    tmp_path: Path,
) -> None:
    api_server.routes["/readyz"] = (readyz_status, "forbidden")
    api_server.routes["/version"] = (200, VERSION)

    result = await driver_under(tmp_path).probe(
        attached(write_kubeconfig({"team": api_server.url}))
    )

    assert result.status == "running"
    assert [path for path, _ in api_server.requests] == ["/readyz", "/version"]
    assert result.components == {"readyz": str(readyz_status), "version": "200"}


async def test_when_neither_endpoint_answers_the_probe_is_an_error(
    api_server: FakeApiServer, write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    api_server.routes["/readyz"] = (403, "forbidden")
    api_server.routes["/version"] = (401, '{"kind":"Status","message":"Unauthorized"}')

    result = await driver_under(tmp_path).probe(
        attached(write_kubeconfig({"team": api_server.url}))
    )

    assert result.status == "error"
    assert result.reason is not None
    assert "/readyz answered HTTP 403, /version answered HTTP 401" in result.reason


async def test_an_unreachable_api_server_is_an_error_naming_the_address(
    write_kubeconfig: Callable[..., Path],
    tmp_path: Path,
) -> None:
    url = f"http://127.0.0.1:{unused_port()}"

    result = await driver_under(tmp_path).probe(attached(write_kubeconfig({"team": url})))

    assert result.status == "error"
    assert result.reason is not None
    assert result.reason.startswith(f"cannot reach the API server at {url}: ")


async def test_a_hung_api_server_is_an_error_within_the_probe_timeout(
    api_server: FakeApiServer, write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    api_server.hang.set()
    began = time.monotonic()

    result = await driver_under(tmp_path, probe_timeout=0.5).probe(
        attached(write_kubeconfig({"team": api_server.url}))
    )

    assert result.status == "error"
    assert time.monotonic() - began < 5
    assert result.reason is not None and "cannot reach the API server" in result.reason


async def test_without_a_context_the_current_context_is_probed(
    api_server: FakeApiServer, write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    api_server.routes["/readyz"] = (200, "ok")
    unreachable = f"http://127.0.0.1:{unused_port()}"
    kubeconfig = write_kubeconfig({"dead": unreachable, "team": api_server.url}, current="team")

    result = await driver_under(tmp_path).probe(attached(kubeconfig))

    assert result.status == "running"


async def test_a_missing_context_is_an_error_naming_it(
    write_kubeconfig: Callable[..., Path],
    tmp_path: Path,
) -> None:
    kubeconfig = write_kubeconfig({"team": "http://127.0.0.1:1"})

    result = await driver_under(tmp_path).probe(attached(kubeconfig, "nope"))

    assert result.status == "error"
    assert result.reason is not None
    assert result.reason.startswith(f"cannot use context 'nope' of kubeconfig {kubeconfig}: ")


async def test_a_missing_kubeconfig_file_is_an_error_naming_it(tmp_path: Path) -> None:
    result = await driver_under(tmp_path).probe(attached(tmp_path / "absent"))

    assert result.status == "error"
    assert result.reason is not None and str(tmp_path / "absent") in result.reason


async def test_kubeconfig_returns_only_the_attached_context(
    write_kubeconfig: Callable[..., Path],
    tmp_path: Path,
) -> None:
    kubeconfig = write_kubeconfig(
        {"team": "https://127.0.0.1:6443", "other": "https://127.0.0.1:7443"}, current="other"
    )

    document = yaml.safe_load(await driver_under(tmp_path).kubeconfig(attached(kubeconfig, "team")))

    assert document["current-context"] == "team"
    assert document["clusters"] == [
        {"name": "team", "cluster": {"server": "https://127.0.0.1:6443"}}
    ]
    assert document["users"] == [{"name": "team-user", "user": {"token": "team-t0ken"}}]


async def test_kubeconfig_of_a_missing_context_is_a_permanent_error(
    write_kubeconfig: Callable[..., Path],
    tmp_path: Path,
) -> None:
    kubeconfig = write_kubeconfig({"team": "https://127.0.0.1:6443"})

    with pytest.raises(PermanentDriverError, match="no context named 'nope'"):
        await driver_under(tmp_path).kubeconfig(attached(kubeconfig, "nope"))


@pytest.mark.parametrize("action", ["start", "stop"])
async def test_start_and_stop_are_refused_with_a_clear_reason(tmp_path: Path, action: str) -> None:
    driver = driver_under(tmp_path)
    spec = attached(tmp_path / "config")

    with pytest.raises(PermanentDriverError) as failure:
        if action == "start":

            async def progress(line: str) -> None:
                pass

            await driver.start(spec, progress)
        else:
            await driver.stop(spec)

    assert failure.value.message == (
        f"the kubeconfig driver attaches an existing cluster; {action} it with its own tooling"
    )
    assert failure.value.retryable is False


async def test_load_image_is_refused_with_what_to_do_instead(tmp_path: Path) -> None:
    with pytest.raises(PermanentDriverError) as failure:
        await driver_under(tmp_path).load_image(attached(tmp_path / "config"), "web:1.0.0")

    assert failure.value.message == (
        "the kubeconfig driver cannot load images into an attached cluster; push web:1.0.0 "
        "to a registry the cluster can pull from"
    )


async def test_delete_only_detaches_and_leaves_the_cluster_alone(
    api_server: FakeApiServer, write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    api_server.routes["/readyz"] = (200, "ok")
    kubeconfig = write_kubeconfig({"team": api_server.url})
    before = kubeconfig.read_text()

    await driver_under(tmp_path).delete(attached(kubeconfig))

    assert kubeconfig.read_text() == before
    assert api_server.requests == []


# --- a kubeconfig given as content; files outside the kubeconfig roots -----------------


def given_as_content(kubeconfig: Path, context: str | None = None) -> ClusterSpec:
    """The spec of a cluster attached with the content of `kubeconfig` (opened, as the use
    cases hand it to the driver)."""
    spec = attached(kubeconfig, context)
    extra = {**spec.extra, "kubeconfig": "<inline>"}
    return dataclasses.replace(spec, extra=extra, kubeconfig_data=kubeconfig.read_text())


async def test_content_is_probed_with_its_own_credentials(
    api_server: FakeApiServer, write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    api_server.routes["/readyz"] = (200, "ok")
    spec = given_as_content(write_kubeconfig({"team": api_server.url}))

    result = await driver_under(tmp_path / "elsewhere").probe(spec)

    assert (result.status, result.reason) == ("running", None)
    assert api_server.requests == [("/readyz", "Bearer team-t0ken")]


async def test_content_hands_out_only_the_attached_context(
    write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig({"team": "https://127.0.0.1:6443", "lab": "https://10.0.0.9"})

    text = await driver_under(tmp_path / "elsewhere").kubeconfig(
        given_as_content(kubeconfig, "lab")
    )

    document = yaml.safe_load(text)
    assert document["current-context"] == "lab"
    assert document["users"] == [{"name": "lab-user", "user": {"token": "lab-t0ken"}}]


async def test_content_that_was_not_opened_is_an_error_not_another_kubeconfig(
    write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    spec = given_as_content(write_kubeconfig({"team": "http://x"}))
    unopened = dataclasses.replace(spec, kubeconfig_data=None)

    result = await driver_under(tmp_path).probe(unopened)

    assert result.status == "error"
    assert result.reason == (
        "cannot use the kubeconfig: the kubeconfig of cluster 'team-cluster' was not opened"
    )


async def test_a_file_outside_the_roots_is_neither_probed_nor_handed_out(
    write_kubeconfig: Callable[..., Path], tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig({"team": "http://127.0.0.1:1"})
    root = tmp_path / "kube"
    root.mkdir()
    outside = (
        f"'{kubeconfig}' is outside the kubeconfig roots ({root}); attach a file under them, "
        "or send the kubeconfig's content as kubeconfig_data"
    )

    result = await driver_under(root).probe(attached(kubeconfig))
    with pytest.raises(PermanentDriverError) as refused:
        await driver_under(root).kubeconfig(attached(kubeconfig))

    assert (result.status, result.reason) == ("error", f"cannot use the kubeconfig: {outside}")
    assert (refused.value.message, refused.value.code) == (outside, "KUBECONFIG")
