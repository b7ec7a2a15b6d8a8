"""One context is cut out of a kubeconfig, self-contained, ready for another process; an
attached cluster's kubeconfig and context are checked and resolved (`KubeconfigFiles`)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
import yaml

from slipway_cluster_manager.adapters.kubeconfig_file import (
    KubeconfigError,
    KubeconfigFiles,
    extract_context,
    inline_context,
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
    files = KubeconfigFiles([tmp_path])

    assert files.attachment(str(path), None) == Attachment(str(path), "other")
    assert files.attachment(str(path), "demo") == Attachment(str(path), "demo")


def test_without_a_file_an_attachment_uses_the_one_kubectl_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(tmp_path)
    monkeypatch.setenv("KUBECONFIG", f"{path}:/elsewhere/config")

    assert KubeconfigFiles([tmp_path]).attachment(None, "demo") == Attachment(str(path), "demo")


def test_an_attachment_names_the_field_it_cannot_use(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path)
    files = KubeconfigFiles([tmp_path])

    with pytest.raises(InvalidClusterSpec) as no_file:
        files.attachment(str(tmp_path / "absent"), "demo")
    with pytest.raises(InvalidClusterSpec) as no_context:
        files.attachment(str(path), "nope")

    assert no_file.value.field == "kubeconfig"
    assert no_file.value.message == f"kubeconfig: kubeconfig {tmp_path / 'absent'} does not exist"
    assert no_context.value.field == "context"
    assert no_context.value.message == "context: the kubeconfig has no context named 'nope'"


def test_the_api_server_is_read_from_the_current_context(tmp_path: Path) -> None:
    text = extract_context(write_kubeconfig(tmp_path), "demo")

    assert KubeconfigFiles([]).api_server(text) == "https://127.0.0.1:6443"
    assert KubeconfigFiles([]).api_server("not: [a kubeconfig") is None


# --- only files under the kubeconfig roots are read --------------------------------------

MARKER = "MARKER-9f2c"
OUTSIDE = (
    "'{raw}' is outside the kubeconfig roots ({roots}); attach a file under them, or send "
    "the kubeconfig's content as kubeconfig_data"
)


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """A kubeconfig root holding a good kubeconfig, and a directory beside it (outside)
    holding a file with a marker that must never show in an answer."""
    root, outside = tmp_path / "kube", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    write_kubeconfig(root)
    (outside / "secret").write_text(f"{MARKER}: [not yaml\n")
    return root, outside


@pytest.fixture
def nothing_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any read of a file fails the test: a refusal must come before the file is opened."""

    def opened(self: Path, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"{self} was opened")

    for method in ("open", "read_text", "read_bytes"):
        monkeypatch.setattr(Path, method, opened)


def outside_refusal(files: KubeconfigFiles, raw: str) -> str:
    with pytest.raises(InvalidClusterSpec) as refused:
        files.attachment(raw, "x")
    assert refused.value.field == "kubeconfig"
    return refused.value.message.removeprefix("kubeconfig: ")


@pytest.mark.parametrize(
    "raw",
    [
        "/etc/shadow",
        "/etc/no-such-file",  # the same answer whether the file exists or not
        "{outside}/secret",
        "{root}/../elsewhere/secret",  # traversal
        "{root}/link-out",  # a symlink under the root that leads out of it
        "{root}/dir-link/secret",  # a directory symlink that leads out
    ],
)
def test_a_path_outside_the_roots_is_refused_naming_the_roots_and_nothing_else(
    roots: tuple[Path, Path], raw: str, nothing_is_opened: None
) -> None:
    root, outside = roots
    (root / "link-out").symlink_to(outside / "secret")
    (root / "dir-link").symlink_to(outside, target_is_directory=True)
    raw = raw.format(root=root, outside=outside)

    message = outside_refusal(KubeconfigFiles([root]), raw)

    assert message == OUTSIDE.format(raw=raw, roots=root)
    assert MARKER not in message


def test_every_root_is_named_and_a_symlink_inside_a_root_is_followed(
    roots: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = roots
    second = tmp_path / "more-kube"
    second.mkdir()
    (second / "config").symlink_to(root / "config")  # leads to another root: inside
    files = KubeconfigFiles([second, root])

    assert files.attachment(str(second / "config"), "demo").context == "demo"
    assert outside_refusal(files, "/etc/shadow") == OUTSIDE.format(
        raw="/etc/shadow", roots=f"{second}, {root}"
    )


def test_a_root_given_with_a_tilde_is_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    path = write_kubeconfig(tmp_path / ".kube")

    files = KubeconfigFiles([Path("~/.kube")])

    assert files.attachment("~/.kube/config", None) == Attachment(str(path), "other")


def test_the_default_kubeconfig_is_refused_when_it_lies_outside_the_roots(
    roots: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, nothing_is_opened: None
) -> None:
    root, outside = roots
    monkeypatch.setenv("KUBECONFIG", str(outside / "secret"))

    with pytest.raises(InvalidClusterSpec) as refused:
        KubeconfigFiles([root]).attachment(None, None)

    assert refused.value.message == "kubeconfig: " + OUTSIDE.format(
        raw=outside / "secret", roots=root
    )


def test_with_no_roots_every_path_is_outside(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    message = outside_refusal(KubeconfigFiles([]), str(root / "config"))
    assert "outside the kubeconfig roots (none are configured)" in message


def test_something_under_a_root_that_is_no_regular_file_is_never_opened(
    roots: tuple[Path, Path], nothing_is_opened: None
) -> None:
    root, _ = roots
    fifo = root / "pipe"
    os.mkfifo(fifo)

    with pytest.raises(InvalidClusterSpec) as refused:
        KubeconfigFiles([root]).attachment(str(fifo), None)

    assert refused.value.message == f"kubeconfig: kubeconfig {fifo} is not a regular file"


def test_a_broken_file_under_a_root_is_named_without_quoting_it(roots: tuple[Path, Path]) -> None:
    root, outside = roots
    broken = root / "broken"
    broken.write_text((outside / "secret").read_text())

    with pytest.raises(InvalidClusterSpec) as refused:
        KubeconfigFiles([root]).attachment(str(broken), None)

    assert refused.value.message == (
        f"kubeconfig: kubeconfig {broken} is not valid YAML (line 2, column 1)"
    )


# --- a kubeconfig given as content -----------------------------------------------------


def self_contained(token: str = "bearer-s3cret") -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "team",
        "clusters": [
            {"name": "team", "cluster": {"server": "https://10.0.0.1:6443"}},
            {"name": "lab", "cluster": {"server": "https://10.0.0.2:6443"}},
        ],
        "users": [{"name": "robot", "user": {"token": token}}],
        "contexts": [
            {"name": "team", "context": {"cluster": "team", "user": "robot"}},
            {"name": "lab", "context": {"cluster": "lab", "user": "robot"}},
        ],
    }
    return yaml.safe_dump(document)


def inline_refusal(content: str, context: str | None = None) -> InvalidClusterSpec:
    with pytest.raises(InvalidClusterSpec) as refused:
        KubeconfigFiles([]).inline_context(content, context)
    return refused.value


def test_content_attaches_its_current_or_named_context(nothing_is_opened: None) -> None:
    files = KubeconfigFiles([])

    assert files.inline_context(self_contained(), None) == "team"
    assert files.inline_context(self_contained(), "lab") == "lab"
    assert inline_context(self_contained(), "lab")["clusters"] == [
        {"name": "lab", "cluster": {"server": "https://10.0.0.2:6443"}}
    ]


def test_content_without_the_named_context_names_the_context() -> None:
    refused = inline_refusal(self_contained(), "nope")
    assert refused.message == "context: the kubeconfig has no context named 'nope'"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("clusters", "certificate-authority"),
        ("users", "client-certificate"),
        ("users", "client-key"),
        ("users", "tokenFile"),
    ],
)
def test_content_may_not_make_slipway_read_a_file(
    roots: tuple[Path, Path], nothing_is_opened: None, section: str, key: str
) -> None:
    _, outside = roots
    document = yaml.safe_load(self_contained())
    body = "cluster" if section == "clusters" else "user"
    document[section][0][body][key] = str(outside / "secret")
    document["users"][0]["user"].pop("token")

    refused = inline_refusal(yaml.safe_dump(document))

    assert refused.field == "kubeconfig_data"
    assert f"the kubeconfig names a file ('{key}')" in refused.message
    assert MARKER not in refused.message


@pytest.mark.parametrize("runner", ["exec", "auth-provider"])
def test_content_may_not_run_a_credential_plugin_here(runner: str) -> None:
    document = yaml.safe_load(self_contained())
    document["users"][0]["user"] = {runner: {"command": "sh", "args": ["-c", "id"]}}

    refused = inline_refusal(yaml.safe_dump(document))

    assert refused.field == "kubeconfig_data"
    assert f"user 'robot' gets its credentials through '{runner}'" in refused.message


def test_content_that_is_not_yaml_is_located_without_being_quoted() -> None:
    refused = inline_refusal("users:\n- token: s3cret-token: [\n")

    assert refused.message == (
        "kubeconfig_data: the kubeconfig is not valid YAML (line 2, column 22)"
    )
    assert "s3cret" not in refused.message


def test_content_that_is_no_kubeconfig_document_is_refused() -> None:
    assert inline_refusal("just text").message == (
        "kubeconfig_data: the kubeconfig is not a kubeconfig document"
    )


@pytest.mark.parametrize(
    "content",
    [
        "current-context: c\ncontexts: 7\n",
        "current-context: c\ncontexts: [{name: c, context: [a, b]}]\n",
        "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "clusters: [{name: k, cluster: {server: x}}]\nusers: [{name: u, user: [1]}]\n",
    ],
)
def test_content_of_another_shape_is_refused_as_such(content: str) -> None:
    assert inline_refusal(content).message == (
        "kubeconfig_data: the kubeconfig is not shaped like one (a section is not what "
        "kubectl expects)"
    )
