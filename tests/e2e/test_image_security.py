"""Image security end to end, on a stack under SLIPWAY_IMAGE_POLICY=enforce: real Docker
builds scanned by the real Trivy (offline, no vulnerability database), the non-root rule,
secrets named but never echoed, the SBOM validated by the CycloneDX library, the scanned
event, and the workload-manager refusing a failed image."""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from slipway_contracts.events import CloudEvent
from tests.e2e.test_workloads import start_cluster
from tests.events import events_for
from tests.registry import running_registry
from tests.stack import Stack, wait_status
from tests.waiting import poll


@pytest.fixture(scope="module")
def enforcing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("security")
    stack = Stack(
        state_dir=base / "state",
        build_root=base / "builds",
        env_overrides={"SLIPWAY_IMAGE_POLICY": "enforce"},
    )
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture
def client(enforcing: Stack) -> Iterator[httpx.Client]:
    with enforcing.client() as http:
        yield http


def fake_credentials() -> tuple[str, str]:
    """An AWS access key id and a GitHub token of the real formats, random and fake, made
    here so that no credential-looking string is committed."""
    upper = string.ascii_uppercase + "234567"
    aws = "AK" + "IA" + "".join(secrets.choice(upper) for _ in range(16))
    github = "gh" + "p_" + "".join(secrets.choice(string.ascii_letters) for _ in range(36))
    return aws, github


def context(stack: Stack, dockerfile: str, files: dict[str, str]) -> Path:
    directory = stack.build_root / f"ctx-{uuid.uuid4().hex[:8]}"
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def build(client: httpx.Client, build_context: str) -> str:
    body = {
        "name": f"security/app-{uuid.uuid4().hex[:8]}",
        "tag": "1.0.0",
        "application": "backend",
        "build": {"context": build_context},
    }
    response = client.post("/api/container-images", json=body)
    assert response.status_code == 202, response.text
    return str(response.headers["Location"])


def finished_scan(client: httpx.Client, location: str) -> dict:
    def check() -> dict | None:
        answer = client.get(f"{location}/scan").json()
        scan = answer.get("scan")
        return answer if scan and scan["status"] != "pending" else None

    return poll(check, timeout_s=180, what=f"{location} scanned")


def test_hello_server_scan_is_partial_offline_with_no_root_finding_and_a_valid_sbom(
    client, enforcing
):
    location = build(client, "hello-server")
    answer = finished_scan(client, location)
    scan = answer["scan"]
    assert answer["status"] == "built"
    assert scan["status"] == "partial"
    assert any(
        "vulnerability scanning skipped" in note and "no Trivy vulnerability database" in note
        for note in scan["skipped"]
    )
    assert scan["scanners"]["trivy"]
    assert scan["scanners"]["hadolint"].startswith("2.")
    assert "non-root-user" not in [f["rule"] for f in scan["findings"]]
    assert scan["counts"]["CRITICAL"] == 0

    sbom = client.get(f"{location}/sbom")
    assert sbom.status_code == 200
    assert sbom.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    document = sbom.json()
    assert document["bomFormat"] == "CycloneDX"
    version = SchemaVersion.from_version(document["specVersion"])
    errors = JsonStrictValidator(version).validate_str(sbom.text)
    assert errors is None, errors

    image_id = location.rsplit("/", 1)[1]
    events = poll(
        lambda: [e for s, e in events_for(enforcing.events_reader, image_id) if "scanned" in s]
    )
    event = CloudEvent.model_validate(events[-1])
    assert event.type == "io.slipway.container_image.scanned.v1"
    assert event.data["scan"]["status"] == "partial"


def test_a_baked_in_secret_is_named_never_echoed_and_enforce_fails_the_image(client, enforcing):
    aws, github = fake_credentials()
    directory = context(
        enforcing,
        "FROM scratch\nCOPY app.env /app/config/app.env\nUSER 65532\n",
        {"app.env": f"AWS_ACCESS_KEY_ID={aws}\nGITHUB_TOKEN={github}\n"},
    )
    location = build(client, str(directory))
    answer = finished_scan(client, location)
    secret_rules = {f["rule"]: f for f in answer["scan"]["findings"] if f["kind"] == "secret"}
    assert set(secret_rules) >= {"aws-access-key-id", "github-pat"}
    for finding in secret_rules.values():
        assert finding["file"] == "/app/config/app.env"
        assert finding["severity"] == "CRITICAL"
        assert finding["layer"].startswith("sha256:")

    image = wait_status(client, location, {"failed"})
    assert "image policy (enforce) refused the image" in image["reason"]
    assert "secret aws-access-key-id in /app/config/app.env" in image["reason"]

    image_id = location.rsplit("/", 1)[1]
    seen = [
        client.get(location).text,
        client.get(f"{location}/scan").text,
        client.get(f"{location}/sbom").text,
        json.dumps(events_for(enforcing.events_reader, image_id)),
    ]
    for text in seen:
        assert aws not in text and github not in text
        assert aws[4:] not in text and github[4:] not in text


def test_an_image_without_user_gets_a_root_finding_and_fails_under_enforce(client, enforcing):
    directory = context(enforcing, "FROM scratch\nCOPY data.txt /data.txt\n", {"data.txt": "hi\n"})
    location = build(client, str(directory))
    answer = finished_scan(client, location)
    policy = [f for f in answer["scan"]["findings"] if f["kind"] == "policy"]
    assert [f["rule"] for f in policy] == ["non-root-user"]
    assert "runs as root (no USER)" in policy[0]["title"]
    image = wait_status(client, location, {"failed"})
    assert "policy non-root-user" in image["reason"]

    # The workload-manager refuses a failed image: 409 naming its status and reason.
    cluster = start_cluster(client, f"sec-{uuid.uuid4().hex[:6]}")
    deploy = client.post(
        "/api/deployments",
        json={
            "name": f"root-{uuid.uuid4().hex[:6]}",
            "namespace": "default",
            "cluster_id": cluster["id"],
            "image_id": image["id"],
            "replicas": 1,
            "container_port": 8080,
        },
    )
    assert deploy.status_code == 409, deploy.text
    assert "failed" in deploy.json()["detail"]
    assert "non-root-user" in deploy.json()["detail"]


def test_scan_again_answers_202_with_a_pending_scan_and_bad_ids_are_404(client, enforcing):
    location = build(client, "static-site")
    finished = finished_scan(client, location)["scan"]
    again = client.post(f"{location}/scan")
    assert again.status_code == 202
    assert again.json()["scan"]["status"] == "pending"
    rescanned = finished_scan(client, location)["scan"]
    assert rescanned["scan_id"] != finished["scan_id"]
    missing = client.get("/api/container-images/no-such-image/scan")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("auth", [None, ("slipway-ci", "pw-" + secrets.token_hex(8))])
def test_a_build_with_a_repository_is_pushed_to_a_real_registry_with_its_digest(
    client, enforcing, tmp_path, auth
):
    with running_registry(tmp_path, auth) as registry:
        name = f"security/pushed-{uuid.uuid4().hex[:6]}"
        body = {
            "name": name,
            "tag": "1.0.0",
            "application": "backend",
            "repository": f"{registry.host}/{name}",
            "build": {"context": "hello-server"},
        }
        if auth is not None:
            body["registry_auth"] = {"username": auth[0], "password": auth[1]}
        response = client.post("/api/container-images", json=body)
        assert response.status_code == 202, response.text
        image = wait_status(client, response.headers["Location"], {"built", "failed"}, 120)
        assert image["status"] == "built", image["reason"]
        assert registry.tags(name) == ["1.0.0"]
        assert image["digest"] == registry.digest(name, "1.0.0")
        if auth is not None:
            assert image["registry_username"] == auth[0]
            seen = [
                response.text,
                client.get(response.headers["Location"]).text,
                json.dumps(events_for(enforcing.events_reader, image["id"])),
            ]
            assert all(auth[1] not in text for text in seen)
