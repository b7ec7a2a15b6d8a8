"""One context is cut out of a kubeconfig, self-contained, ready for another process; an
attached cluster's kubeconfig and context are checked and resolved (`KubeconfigFiles`)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from slipway_cluster_manager.adapters.kubeconfig_file import (
    KubeconfigError,
    KubeconfigFiles,
    extract_context,
)
from slipway_cluster_manager.domain.ports import Attachment, InvalidClusterSpec


def write_kubeconfig(directory: Path) -> Path:
    (directory / "certs").mkdir()
    (directory / "certs" / "ca.crt").write_bytes(b"CA-PEM")
    (directory / "client.crt").write_bytes(b"CERT-PEM")
    (directory / "client.key").write_bytes(b"KEY-PEM")
    (directory / "token").write_text("s3cret\n")
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "other",
        "clusters": [
            {
                "name": "demo",
                "cluster": {
                    "server": "https://127.0.0.1:6443",
                    "certificate-authority": "certs/ca.crt",
                },
            },
            {"name": "other", "cluster": {"server": "https://127.0.0.1:7443"}},
        ],
        "users": [
            {
                "name": "demo-admin",
                "user": {
                    "client-certificate": "client.crt",
                    "client-key": str(directory / "client.key"),
                },
            },
            {"name": "robot", "user": {"tokenFile": "token"}},
        ],
        "contexts": [
            {
                "name": "demo",
                "context": {"cluster": "demo", "user": "demo-admin", "namespace": "apps"},
            },
            {"name": "other", "context": {"cluster": "other", "user": "robot"}},
        ],
    }
    path = directory / "config"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_named_context_comes_alone_with_its_files_inlined(tmp_path: Path) -> None:
    document = yaml.safe_load(extract_context(write_kubeconfig(tmp_path), "demo"))

    assert document["current-context"] == "demo"
    assert [c["name"] for c in document["contexts"]] == ["demo"]
    assert document["contexts"][0]["context"]["namespace"] == "apps"
    cluster = document["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA-PEM"
    assert "certificate-authority" not in cluster
    user = document["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT-PEM"
    assert base64.b64decode(user["client-key-data"]) == b"KEY-PEM"


def test_without_a_name_the_current_context_is_used(tmp_path: Path) -> None:
    document = yaml.safe_load(extract_context(write_kubeconfig(tmp_path), None))

    assert document["current-context"] == "other"
    assert document["users"] == [{"name": "robot", "user": {"token": "s3cret"}}]


def test_an_unknown_context_is_reported_by_name(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no context named 'nope'"):
        extract_context(write_kubeconfig(tmp_path), "nope")


def test_a_missing_file_is_reported_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match=f"kubeconfig {tmp_path / 'absent'} does not exist"):
        extract_context(tmp_path / "absent", None)


def test_an_attachment_resolves_the_current_context(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path)

    assert KubeconfigFiles().attachment(str(path), None) == Attachment(str(path), "other")
    assert KubeconfigFiles().attachment(str(path), "demo") == Attachment(str(path), "demo")


def test_without_a_file_an_attachment_uses_the_one_kubectl_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(tmp_path)
    monkeypatch.setenv("KUBECONFIG", f"{path}:/elsewhere/config")

    assert KubeconfigFiles().attachment(None, "demo") == Attachment(str(path), "demo")


def test_an_attachment_names_the_field_it_cannot_use(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path)

    with pytest.raises(InvalidClusterSpec) as no_file:
        KubeconfigFiles().attachment(str(tmp_path / "absent"), "demo")
    with pytest.raises(InvalidClusterSpec) as no_context:
        KubeconfigFiles().attachment(str(path), "nope")

    assert no_file.value.field == "kubeconfig"
    assert no_context.value.field == "context"
    assert no_context.value.message == "context: the kubeconfig has no context named 'nope'"


def test_the_api_server_is_read_from_the_current_context(tmp_path: Path) -> None:
    text = extract_context(write_kubeconfig(tmp_path), "demo")

    assert KubeconfigFiles().api_server(text) == "https://127.0.0.1:6443"
    assert KubeconfigFiles().api_server("not: [a kubeconfig") is None
