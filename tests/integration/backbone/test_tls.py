"""Encryption in transit: NATS and MongoDB behind TLS with a certificate from a CA this test
makes, a real cluster-manager and the gateway verifying both, and the gateway serving HTTPS.

A client that does not trust the test CA is refused by every one of them.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import pymongo
import pytest
import slipway_devstack as devstack
import trustme
from nats.errors import NoServersError
from pymongo.errors import ServerSelectionTimeoutError

from tests.waiting import poll

HOST = "127.0.0.1"
pytestmark = pytest.mark.slow


@dataclass
class TlsStack:
    ca_file: Path
    nats_url: str
    mongodb_uri: str
    base_url: str
    admin_token_file: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token_file.read_text().strip()}"}


def start_tls_nats(root: Path, port: int, cert: Path, key: Path) -> devstack.ManagedProcess:
    config = root / "nats.conf"
    config.write_text(
        f'listen: "{HOST}:{port}"\n'
        f'jetstream {{ store_dir: "{root / "js"}" }}\n'
        f'tls {{ cert_file: "{cert}"\n key_file: "{key}" }}\n'
    )
    process = devstack.ManagedProcess(
        "nats-tls", [devstack.venv_binary("nats-server"), "-c", str(config)], root / "nats.log"
    ).start()
    devstack.wait_until(lambda: devstack.port_open(port) or not process.alive, 30, "NATS (TLS)")
    assert process.alive, (root / "nats.log").read_text()
    return process


def start_tls_mongod(root: Path, port: int, pem: Path, ca: Path) -> devstack.ManagedProcess:
    dbpath = root / "db"
    dbpath.mkdir()
    process = devstack.ManagedProcess(
        "mongod-tls",
        [
            devstack.mongod_binary(),
            "--replSet",
            "rs0",
            "--bind_ip",
            HOST,
            "--port",
            str(port),
            "--dbpath",
            str(dbpath),
            "--tlsMode",
            "requireTLS",
            "--tlsCertificateKeyFile",
            str(pem),
            "--wiredTigerCacheSizeGB",
            "0.25",
            "--quiet",
        ],
        root / "mongod.log",
    ).start()
    devstack.wait_until(lambda: devstack.port_open(port) or not process.alive, 60, "mongod (TLS)")
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        HOST, port, directConnection=True, tls=True, tlsCAFile=str(ca)
    )
    try:
        client.admin.command(
            "replSetInitiate", {"_id": "rs0", "members": [{"_id": 0, "host": f"{HOST}:{port}"}]}
        )
        poll(
            lambda: bool(client.admin.command("hello").get("isWritablePrimary")),
            timeout_s=60,
            what="the TLS replica set's primary",
        )
    finally:
        client.close()
    return process


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    root = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert(HOST, "localhost")
    ca_file, cert, key, pem = (root / n for n in ("ca.pem", "cert.pem", "key.pem", "both.pem"))
    ca.cert_pem.write_to_path(str(ca_file))
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    server.private_key_and_cert_chain_pem.write_to_path(str(pem))
    nats_port, mongo_port, http_port = (devstack.free_port() for _ in range(3))
    processes: list[devstack.ManagedProcess] = []
    stack = TlsStack(
        ca_file=ca_file,
        nats_url=f"tls://{HOST}:{nats_port}",
        mongodb_uri=f"mongodb://{HOST}:{mongo_port}/?replicaSet=rs0&tls=true&tlsCAFile={ca_file}",
        base_url=f"https://{HOST}:{http_port}",
        admin_token_file=root / "state" / "admin.token",
    )
    env = {
        "SLIPWAY_NATS_URL": stack.nats_url,
        "SLIPWAY_NATS_CA_FILE": str(ca_file),
        "SLIPWAY_MONGODB_URI": stack.mongodb_uri,
        "SLIPWAY_STATE_DIR": str(root / "state"),
        "SLIPWAY_PORT": str(http_port),
        "SLIPWAY_TLS_CERT_FILE": str(cert),
        "SLIPWAY_TLS_KEY_FILE": str(key),
        "SLIPWAY_READY_SERVICES": "cluster-manager",
    }
    try:  # a server that started is stopped, whatever fails after it
        processes.append(start_tls_nats(root, nats_port, cert, key))
        processes.append(start_tls_mongod(root, mongo_port, pem, ca_file))
        for name, module in (
            ("cluster-manager", "slipway_cluster_manager"),
            ("gateway", "slipway_gateway"),
        ):
            processes.append(devstack.service_process(name, module, root / "state", env).start())

        def ready() -> bool:
            try:
                return httpx.get(f"{stack.base_url}/readyz", verify=str(ca_file)).is_success
            except httpx.HTTPError:
                return False

        poll(ready, timeout_s=90, what="the gateway over HTTPS, with NATS and MongoDB over TLS")
        yield stack
    finally:
        for process in reversed(processes):
            process.stop()


def test_the_api_works_end_to_end_over_tls(tls_stack: TlsStack) -> None:
    with httpx.Client(
        base_url=tls_stack.base_url, verify=str(tls_stack.ca_file), headers=tls_stack.headers()
    ) as client:
        created = client.post(
            "/api/minikube-clusters",
            json={
                "name": "tls-demo",
                "driver": "sim",
                "cpus": 1,
                "memory": 1024,
                "disk_size": 2048,
            },
        )
        assert created.status_code in (201, 202), created.text
        cluster = client.get(f"/api/minikube-clusters/{created.json()['id']}")
        assert cluster.status_code == 200
        assert cluster.json()["name"] == "tls-demo"


def test_https_clients_that_do_not_trust_the_ca_are_refused(tls_stack: TlsStack) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_stack.base_url}/healthz")
    plain = tls_stack.base_url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/healthz")


async def test_nats_refuses_a_client_that_does_not_trust_the_ca(tls_stack: TlsStack) -> None:
    with pytest.raises((NoServersError, ssl.SSLError, OSError)):
        await nats.connect(
            tls_stack.nats_url, tls=ssl.create_default_context(), allow_reconnect=False
        )
    trusted = ssl.create_default_context(cafile=str(tls_stack.ca_file))
    connection = await nats.connect(tls_stack.nats_url, tls=trusted, allow_reconnect=False)
    assert connection.is_connected
    await connection.close()


def test_mongodb_refuses_a_client_that_does_not_trust_the_ca(tls_stack: TlsStack) -> None:
    untrusted = tls_stack.mongodb_uri.split("&tlsCAFile=")[0]
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        untrusted, serverSelectionTimeoutMS=2000
    )
    with pytest.raises(ServerSelectionTimeoutError, match="CERTIFICATE_VERIFY_FAILED"):
        client.admin.command("ping")
    client.close()
