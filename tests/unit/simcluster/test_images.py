"""Image references and `docker save` archives loaded into the simulated cluster."""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile
from pathlib import Path

import pytest
from slipway_simcluster.images import (
    ImageArchiveError,
    ImagePullError,
    ImageRegistry,
    normalize_reference,
    pull_authorization,
    read_image_archive,
    registry_location,
)


@pytest.mark.parametrize(
    ("reference", "canonical"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("localhost:5000/shop/web", "localhost:5000/shop/web:latest"),
        ("registry.local/shop/web:1.0.0", "registry.local/shop/web:1.0.0"),
        ("web@sha256:abcd", "docker.io/library/web@sha256:abcd"),
    ],
)
def test_references_compare_in_canonical_form(reference: str, canonical: str) -> None:
    assert normalize_reference(reference) == canonical


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_docker_save_archive_yields_its_tags(tmp_path: Path) -> None:
    manifest = [
        {"Config": "blobs/sha256/0123abcd", "RepoTags": ["shop/web:1.0.0", "shop/web:latest"]}
    ]
    path = _archive(tmp_path / "web.tar", {"manifest.json": json.dumps(manifest).encode()})

    assert read_image_archive(path) == [
        ("shop/web:1.0.0", "sha256:0123abcd"),
        ("shop/web:latest", "sha256:0123abcd"),
    ]


def test_oci_archive_without_repo_tags_uses_index_annotations(tmp_path: Path) -> None:
    index = {
        "manifests": [
            {
                "digest": "sha256:feed",
                "annotations": {"io.containerd.image.name": "docker.io/shop/api:2.0.0"},
            }
        ]
    }
    path = _archive(
        tmp_path / "api.tar",
        {"manifest.json": b"[]", "index.json": json.dumps(index).encode()},
    )

    assert read_image_archive(path) == [("docker.io/shop/api:2.0.0", "sha256:feed")]


def test_non_tar_and_untagged_archives_are_rejected(tmp_path: Path) -> None:
    not_tar = tmp_path / "notes.txt"
    not_tar.write_text("hello, not an image")
    untagged = _archive(tmp_path / "empty.tar", {"manifest.json": b'[{"RepoTags": null}]'})

    with pytest.raises(ImageArchiveError, match="not a docker save tar"):
        read_image_archive(not_tar)
    with pytest.raises(ImageArchiveError, match="no tagged image"):
        read_image_archive(untagged)


async def test_loaded_image_is_available_under_any_spelling() -> None:
    registry = ImageRegistry()
    registry.add([("shop/web:1.0.0", "sha256:1")])

    assert await registry.is_available("docker.io/shop/web:1.0.0")
    assert not await registry.is_available("shop/web:2.0.0")


async def test_unreachable_docker_engine_means_unavailable_not_an_error(tmp_path: Path) -> None:
    registry = ImageRegistry(docker_host=f"unix://{tmp_path}/no-docker.sock")

    assert not await registry.is_available("shop/web:1.0.0")


@pytest.mark.parametrize(
    ("reference", "location"),
    [
        ("127.0.0.1:5000/team/app@sha256:ab", ("127.0.0.1:5000", "team/app", "sha256:ab")),
        ("127.0.0.1:5000/team/app:1.0.0@sha256:ab", ("127.0.0.1:5000", "team/app", "sha256:ab")),
        ("localhost:5000/app:1.0.0", ("localhost:5000", "app", "1.0.0")),
        ("registry.example.com/team/app:1.0.0", None),
        ("team/app:1.0.0", None),
        ("nginx", None),
    ],
)
def test_only_loopback_registries_are_pulled_from(reference: str, location: object) -> None:
    assert registry_location(reference) == location


async def test_a_pull_from_a_registry_that_is_not_there_names_the_failure() -> None:
    images = ImageRegistry()
    with pytest.raises(ImagePullError, match=re.escape("failed to reach registry 127.0.0.1:9")):
        await images.pull("127.0.0.1:9/team/app:1.0.0")
    assert not images.was_pulled("127.0.0.1:9/team/app:1.0.0")


def _dockerconfig(auths: dict[str, object]) -> dict[str, object]:
    encoded = base64.b64encode(json.dumps({"auths": auths}).encode()).decode()
    return {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": encoded}}


def test_a_pull_secret_gives_basic_auth_only_for_the_registry_it_names() -> None:
    login = base64.b64encode(b"ci:pw").decode()
    secrets = [
        {"type": "Opaque", "data": {}},
        _dockerconfig({"127.0.0.1:5000": {"auth": login}}),
        _dockerconfig({"127.0.0.1:6000": {"username": "ci", "password": "pw"}}),
    ]
    assert pull_authorization(secrets, "127.0.0.1:5000") == f"Basic {login}"
    assert pull_authorization(secrets, "127.0.0.1:6000") == f"Basic {login}"
    assert pull_authorization(secrets, "127.0.0.1:7000") is None
