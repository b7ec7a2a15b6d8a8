"""HelmChart end to end: REST in, real helm and schema/policy checks, events out."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
import uuid

import pytest

from slipway_contracts.events import CloudEvent
from tests.events import events_for
from tests.stack import ROOT, poll, wait_status

PROBLEM = "application/problem+json"
FIXTURES = ROOT / "tests" / "fixtures" / "charts"
TERMINAL = {"valid", "invalid"}


def chart_body(name: str = "good", **overrides):
    body = {
        "name": name,
        "version": "0.1.0",
        "description": "e2e",
        "app_version": "1.0.0",
        "namespace": f"e2e-{uuid.uuid4().hex[:8]}",
        "source": {"path": str(FIXTURES / name)},
    }
    return {**body, **overrides}


def packaged(chart: str) -> str:
    """The chart directory packed as a .tgz, base64 encoded."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(FIXTURES / chart, arcname=chart)
    return base64.b64encode(buffer.getvalue()).decode()


def errors(chart):
    return [f for f in chart["findings"] if f["severity"] == "error"]


def test_a_good_chart_is_valid_within_30s_with_no_error_findings(api):
    response = api.post("/api/helm-charts", json=chart_body())
    assert response.status_code == 202
    created = response.json()
    assert created["status"] == "validating"
    assert response.headers["Location"] == f"/api/helm-charts/{created['id']}"
    assert response.headers["ETag"] == '"1"'
    chart = wait_status(api, response.headers["Location"], TERMINAL, timeout_s=30)
    assert chart["status"] == "valid", chart["findings"]
    assert errors(chart) == []


def test_a_chart_breaking_the_policy_is_invalid_naming_resource_and_path(api):
    location = api.post("/api/helm-charts", json=chart_body("bad-policy")).headers["Location"]
    chart = wait_status(api, location, TERMINAL)
    assert chart["status"] == "invalid"
    policy = [f for f in errors(chart) if f["rule"].startswith("policy.")]
    rules = {f["rule"] for f in policy}
    assert {"policy.run-as-non-root", "policy.resources-limits", "policy.liveness-probe"} <= rules
    assert all(f["resource"] and f["path"] for f in policy)
    (root,) = [f for f in policy if f["rule"] == "policy.run-as-non-root"]
    assert root["resource"] == "Deployment/bad-policy-web"
    assert root["path"].endswith(".securityContext.runAsUser")


def test_a_template_syntax_error_is_invalid_quoting_helm(api):
    location = api.post("/api/helm-charts", json=chart_body("bad-syntax")).headers["Location"]
    chart = wait_status(api, location, TERMINAL)
    assert chart["status"] == "invalid"
    (template,) = [f for f in errors(chart) if f["rule"] == "helm.template"]
    assert "bad-syntax/templates/configmap.yaml:6" in template["message"]


def test_a_schema_error_is_invalid_naming_the_field(api):
    location = api.post("/api/helm-charts", json=chart_body("bad-schema")).headers["Location"]
    chart = wait_status(api, location, TERMINAL)
    assert chart["status"] == "invalid"
    assert any("replicas" in (f["path"] or "") + f["message"] for f in errors(chart))


@pytest.mark.parametrize("version", ["1.0", "banana"])
def test_a_version_that_is_not_semver_is_a_422_naming_the_field(api, version):
    response = api.post("/api/helm-charts", json=chart_body(version=version))
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert "version" in [e["field"] for e in response.json()["errors"]]


def test_a_path_outside_the_chart_roots_is_a_422(api):
    response = api.post("/api/helm-charts", json=chart_body(source={"path": "/etc"}))
    assert response.status_code == 422
    assert "source.path" in [e["field"] for e in response.json()["errors"]]


def test_a_second_chart_with_the_same_namespace_and_name_is_a_409(api):
    body = chart_body()
    assert api.post("/api/helm-charts", json=body).status_code == 202
    duplicate = api.post("/api/helm-charts", json=body)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == PROBLEM
    assert body["namespace"] in duplicate.json()["detail"]
    elsewhere = {**body, "namespace": f"e2e-{uuid.uuid4().hex[:8]}"}
    assert api.post("/api/helm-charts", json=elsewhere).status_code == 202


def test_an_uploaded_archive_is_validated_from_gridfs(api):
    body = chart_body(source={"archive": packaged("good")})
    response = api.post("/api/helm-charts", json=body)
    assert response.status_code == 202
    assert response.json()["source"]["archive_size"] > 0
    chart = wait_status(api, response.headers["Location"], TERMINAL, timeout_s=30)
    assert chart["status"] == "valid", chart["findings"]


@pytest.mark.parametrize("member", ["../../etc/passwd", "/etc/passwd"])
def test_an_archive_escaping_its_directory_is_a_422_and_nothing_is_stored(api, member):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        payload = b"root::0:0::/root:/bin/sh\n"
        info = tarfile.TarInfo(member)
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    body = chart_body(source={"archive": base64.b64encode(buffer.getvalue()).decode()})
    response = api.post("/api/helm-charts", json=body)
    assert response.status_code == 422
    assert "source.archive" in [e["field"] for e in response.json()["errors"]]
    items = api.get("/api/helm-charts", params={"limit": 500}).json()["items"]
    assert body["namespace"] not in [i["namespace"] for i in items]


def test_put_on_a_valid_chart_validates_again_with_rising_entityversion(api, stack):
    location = api.post("/api/helm-charts", json=chart_body()).headers["Location"]
    chart = wait_status(api, location, {"valid"}, timeout_s=30)
    body = chart_body(namespace=chart["namespace"], description="changed")
    response = api.put(location, json=body, headers={"If-Match": f'"{chart["revision"]}"'})
    assert response.status_code == 202
    assert response.json()["status"] == "validating"
    again = wait_status(api, location, {"valid"}, timeout_s=30)
    assert again["description"] == "changed"
    events = poll(
        lambda: (
            (found := events_for(stack.events_reader, chart["id"], "helm_chart"))
            and len(found) >= 4
            and found
        )
    )
    assert [s.rsplit(".", 1)[1] for s, _ in events] == ["created", "valid", "validating", "valid"]
    versions = [e["entityversion"] for _, e in events]
    assert versions == sorted(versions) == list(range(1, 5))
    for _, event in events:
        CloudEvent.model_validate(event)
    assert events[-1][1]["data"]["previous_status"] == "validating"


def test_revalidate_and_delete(api, stack):
    location = api.post("/api/helm-charts", json=chart_body()).headers["Location"]
    chart = wait_status(api, location, {"valid"}, timeout_s=30)
    again = api.post(f"{location}/validate")
    assert again.status_code == 202
    assert again.json()["status"] == "validating"
    assert wait_status(api, location, {"valid"}, timeout_s=30)["revision"] == chart["revision"] + 2
    assert api.delete(location).status_code == 204
    assert api.get(location).status_code == 404


def test_the_projects_own_chart_is_valid(api):
    body = chart_body("slipway", source={"path": str(ROOT / "charts" / "slipway")})
    response = api.post("/api/helm-charts", json=body)
    assert response.status_code == 202
    chart = wait_status(api, response.headers["Location"], TERMINAL, timeout_s=60)
    assert chart["status"] == "valid", errors(chart)


# --- multipart uploads ----------------------------------------------------------------------


def tgz(chart: str) -> bytes:
    return base64.b64decode(packaged(chart))


def form(chart: str = "good", **overrides) -> dict[str, str]:
    """The text fields of a multipart upload (the JSON body's fields, `values` as JSON)."""
    fields = {
        "name": chart,
        "version": "0.1.0",
        "app_version": "1.0.0",
        "namespace": f"e2e-{uuid.uuid4().hex[:8]}",
    }
    return {**fields, **overrides}


def fields_of(response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return {e["field"] for e in response.json()["errors"]}


def test_a_multipart_upload_registers_the_chart_like_a_base64_body(api):
    archive = tgz("good")
    fields = form(values=json.dumps({"replicaCount": 2}), description="uploaded")
    response = api.post("/api/helm-charts", data=fields, files={"chart": ("good.tgz", archive)})
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["values"] == {"replicaCount": 2}
    assert created["description"] == "uploaded"
    assert created["source"]["archive_size"] == len(archive)
    assert created["source"]["archive_sha256"] == hashlib.sha256(archive).hexdigest()
    chart = wait_status(api, response.headers["Location"], TERMINAL, timeout_s=30)
    assert chart["status"] == "valid", chart["findings"]


def test_put_takes_a_multipart_upload_too(api):
    location = api.post("/api/helm-charts", json=chart_body()).headers["Location"]
    chart = wait_status(api, location, {"valid"}, timeout_s=30)
    response = api.put(
        location,
        data=form(namespace=chart["namespace"]),
        files={"chart": ("good.tgz", tgz("good"))},
        headers={"If-Match": f'"{chart["revision"]}"'},
    )
    assert response.status_code == 202, response.text
    assert response.json()["source"]["path"] is None
    again = wait_status(api, location, {"valid"}, timeout_s=30)
    assert again["source"]["archive_id"]
    stale = api.put(
        location,
        data=form(namespace=chart["namespace"]),
        files={"chart": ("good.tgz", tgz("good"))},
        headers={"If-Match": f'"{chart["revision"]}"'},
    )
    assert stale.status_code == 412


def test_an_upload_without_its_file_or_with_bad_fields_is_a_422_naming_each_field(api):
    response = api.post(
        "/api/helm-charts",
        data=form(version="1.0", values="{not json"),
        files={"unrelated": ("notes.txt", b"hello")},
    )
    assert {"chart", "version", "values", "unrelated"} <= fields_of(response)
    as_text = api.post(
        "/api/helm-charts", data=form(), files={"chart": (None, b"a text field, not a file")}
    )
    assert fields_of(as_text) == {"chart"}


def test_an_unsafe_upload_is_a_422_naming_the_chart_part(api):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../../etc/passwd")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"root\n"))
    fields = form()
    response = api.post(
        "/api/helm-charts", data=fields, files={"chart": ("evil.tgz", buffer.getvalue())}
    )
    assert fields_of(response) == {"chart"}
    assert "'..'" in response.json()["errors"][0]["message"]
    items = api.get("/api/helm-charts", params={"limit": 500}).json()["items"]
    assert fields["namespace"] not in [i["namespace"] for i in items]


def archive_of(size: int) -> bytes:
    """A .tgz of about `size` bytes (random bytes do not compress)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        blob = os.urandom(size)
        info = tarfile.TarInfo("good/blob.bin")
        info.size = len(blob)
        archive.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


def test_an_archive_over_the_size_limits_is_refused_naming_the_limit(api):
    # Over the validator's SLIPWAY_ARCHIVE_MAX_BYTES (4 MiB) but within one bus message.
    archive = archive_of(4608 * 1024)
    upload = api.post("/api/helm-charts", data=form(), files={"chart": ("big.tgz", archive)})
    assert fields_of(upload) == {"chart"}
    assert re.search(r"\d+ bytes allowed", upload.json()["errors"][0]["message"])

    # A body over the gateway's SLIPWAY_MAX_BODY_BYTES (8 MiB) is refused before it is read.
    archive = archive_of(7 * 1024 * 1024)
    body = chart_body(source={"archive": base64.b64encode(archive).decode()})
    encoded = api.post("/api/helm-charts", json=body)
    assert encoded.status_code == 413
    assert encoded.headers["content-type"] == "application/problem+json"
    assert "at most 8388608" in encoded.json()["detail"]
